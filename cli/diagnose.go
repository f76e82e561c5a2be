package cli

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/fosim/fosim/cmdb"
)

// debugApps are the FortiOS debug applications "diagnose debug
// application" accepts (the daemons fosim runs, and the common others).
var debugApps = map[string]string{
	"ike":     "IKE daemon",
	"authd":   "Authentication daemon",
	"samld":   "SAML daemon",
	"sshd":    "SSH daemon",
	"httpsd":  "HTTPS daemon",
	"fnbamd":  "Fortinet non-blocking authentication daemon",
	"sslvpn":  "SSL-VPN daemon",
	"fcnacd":  "FortiClient NAC daemon (EMS connector)",
	"miglogd": "Log daemon",
}

func init() {
	commands = append(commands,
		&command{path: "diagnose debug application", help: "Set/get debug level of an application.", args: "<application> <level>", minArgs: 1, maxArgs: 2, run: diagDebugApplication},
		&command{path: "diagnose debug enable", help: "Enable debug output.", run: diagDebugEnable},
		&command{path: "diagnose debug disable", help: "Disable debug output.", run: diagDebugDisable},
		&command{path: "diagnose debug reset", help: "Reset all debug levels to default.", run: diagDebugReset},
		&command{path: "diagnose debug info", help: "Show active debug level settings.", run: diagDebugInfo},
		&command{path: "diagnose debug console timestamp", help: "Enable/disable timestamps on debug output.", args: "<enable|disable>", minArgs: 1, maxArgs: 1, run: diagDebugTimestamp},
		&command{path: "diagnose sys clock advance", help: "Move the appliance clock forward (fosim lab command), e.g. 6m or 1h30m.", args: "<duration>", minArgs: 1, maxArgs: 1, run: diagClockAdvance, writes: true},
	)
}

func diagDebugApplication(sh *Shell, args []string, out io.Writer) error {
	if _, ok := debugApps[args[0]]; !ok {
		return &cmdb.Error{Msg: "command parse error before '" + args[0] + "'", Code: cmdb.CodeParse}
	}
	if len(args) == 1 {
		fmt.Fprintf(out, "%s debug level is %d\n", args[0], sh.Debug.Info().Levels[args[0]])
		return nil
	}
	level, err := strconv.Atoi(args[1])
	if err != nil {
		return &cmdb.Error{Msg: "value parse error before '" + args[1] + "'", Code: cmdb.CodeValue}
	}
	sh.Debug.SetLevel(args[0], level)
	return nil
}

func diagDebugEnable(sh *Shell, _ []string, _ io.Writer) error {
	sh.Debug.Enable(true)
	return nil
}

func diagDebugDisable(sh *Shell, _ []string, _ io.Writer) error {
	sh.Debug.Enable(false)
	return nil
}

func diagDebugReset(sh *Shell, _ []string, _ io.Writer) error {
	sh.Debug.Reset()
	return nil
}

func diagDebugInfo(sh *Shell, _ []string, out io.Writer) error {
	info := sh.Debug.Info()
	onoff := func(b bool) string {
		if b {
			return "enable"
		}
		return "disable"
	}
	fmt.Fprintf(out, "debug output:           %s\n", onoff(info.Enabled))
	fmt.Fprintf(out, "console timestamp:      %s\n", onoff(info.Timestamp))
	fmt.Fprintf(out, "console no user log message:    disable\n")
	apps := make([]string, 0, len(info.Levels))
	for a := range info.Levels {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	for _, a := range apps {
		fmt.Fprintf(out, "%s debug level:        %d\n", a, info.Levels[a])
	}
	fmt.Fprintf(out, "CLI debug level:        3\n")
	return nil
}

func diagDebugTimestamp(sh *Shell, args []string, _ io.Writer) error {
	switch args[0] {
	case "enable":
		sh.Debug.Timestamp(true)
	case "disable":
		sh.Debug.Timestamp(false)
	default:
		return &cmdb.Error{Msg: "command parse error before '" + args[0] + "'", Code: cmdb.CodeParse}
	}
	return nil
}

func diagClockAdvance(sh *Shell, args []string, out io.Writer) error {
	d, err := time.ParseDuration(args[0])
	if err != nil || d <= 0 {
		return &cmdb.Error{Msg: "value parse error before '" + args[0] + "'", Code: cmdb.CodeValue}
	}
	sh.App.Clock.Advance(d)
	fmt.Fprintf(out, "clock advanced by %v: %s\n", d, sh.App.Clock.Now().Format("2006-01-02 15:04:05"))
	return nil
}
