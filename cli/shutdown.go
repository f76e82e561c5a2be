package cli

import (
	"fmt"
	"io"
)

func init() {
	commands = append(commands,
		&command{path: "execute shutdown", help: "Shutdown appliance.", run: executeShutdown, writes: true})
}

// executeShutdown asks, as FortiOS does, then stops the appliance process
// through the hook of the process that runs it.
func executeShutdown(sh *Shell, args []string, out io.Writer) error {
	if sh.App.Shutdown == nil {
		return notSimulated("this shell runs in no appliance process")
	}
	if !sh.confirm("This operation will shutdown the system !") {
		return nil
	}
	// FortiOS's own line is not in the seeds; this is the closest known
	// (its reboot says "System is rebooting...").
	fmt.Fprintf(out, "System is shutting down...\n")
	sh.Session.Reset()
	sh.exited = true
	sh.App.Shutdown()
	return nil
}
