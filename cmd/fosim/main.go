// Command fosim is a FortiOS-style appliance: a configuration engine with a
// persistent CMDB and the appliance daemons, in one process.
package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fosim/fosim/admin/control"
	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/internal/atomicfile"
)

const usage = `usage: fosim [--data DIR] <command> [arguments]   (fosim <command> --help)

commands:
  run [--map IF=ADDR,…] [--port-offset N] [--ssh ADDR] [--ike-addr IP] [--ike-port N] [--ike-natt-port N]
                           the appliance with its console on this terminal
                           (default): iked, admin SSH and the control socket
                           run in this process; "login:" and "Password:" (a
                           new unit's admin has an empty password, then
                           chooses one); exit or Ctrl-D logs out; a signal or
                           "execute shutdown" stops it; lines piped in (no
                           terminal) run as admin without a login
  serve [--map IF=ADDR,…] [--port-offset N] [--ssh ADDR] [--ike-addr IP] [--ike-port N] [--ike-natt-port N]
                           the same appliance without a console
  apply FILE|- [--lenient] [--continue]
                           run a configuration script as one transaction: any
                           error and nothing is committed (errors show
                           FILE:line:column); --continue runs it line by line
                           as a FortiGate runs a script and says what it kept
  show [PATH…] [--full]    print the configuration (or one table / entry)
  get PATH…                print a table or entry as "get" does
  backup FILE              write a FortiOS backup of the configuration
  restore FILE|- [--lenient]
                           replace the configuration with a backup
  client --server ADDR --psk KEY|--psk-file F [--proposal P] [--dh N] [--mode-cfg]
         [--eap-user U --eap-password P|--eap-password-file F [--eap-method md5]] [--rekey]
                           dial an IKEv2 gateway with fosim's own initiator;
                           secrets also from $FOSIM_PSK / $FOSIM_EAP_PASSWORD
                           (a flag is visible in the process list)
  lab run [--transcript] [--step-timeout D] DIR…
                           run training labs (examples/<name>) against an
                           in-process appliance; a diff on mismatch
  idp [--data DIR] [--listen ADDR] [--server-address ADDR] | idp user|sp|set|show|sessions|clock …
                           a FortiAuthenticator-style SAML IdP, a peer of the
                           appliance in its own process (peers/idp/README.md)
  ems [--data DIR] [--listen ADDR] | ems endpoint|rule|token|down|up|slow|show …
                           a FortiClient EMS (endpoints, ZTNA tags and tokens),
                           a peer of the appliance in its own process
                           (peers/ems/README.md)

The data directory is --data, else $FOSIM_DATA, else $XDG_STATE_HOME/fosim
(~/.local/state/fosim). It is created with factory defaults on first use.
While run or serve holds it, show, get, apply, backup and restore go through
that appliance (its control socket DATA/control.sock); otherwise they open
the data directory themselves.
`

const listenerUsage = `
The appliance listens where its configuration says, as a FortiGate does:
admin SSH on system global admin-ssh-port (22) of every interface with ssh
in allowaccess, IKE on UDP 500 and 4500 of every interface a phase1 names.
An interface listens on its static address when this host has it; map the
others to addresses this host has:
  --map port1=127.0.0.1[,port2=127.0.0.2…]
  --port-offset N    add N to every port below 1024 (22 -> N+22, 500 ->
                     N+500), for a user who may not bind them
Overrides (one address for everything, as in tests):
  --ssh ADDR         admin SSH on ADDR alone, whatever the configuration
  --ike-addr IP      IKE on IP alone, for every phase1
  --ike-port N       IKE UDP port (default 500)
  --ike-natt-port N  IKE NAT-T UDP port (default 4500)

Ports below 1024 need root or CAP_NET_BIND_SERVICE, or --port-offset. A
listener that cannot bind is never moved to another port: run says which
and why and opens the console without it; serve exits with status 1.
`

// commandUsage is each command's --help.
var commandUsage = map[string]string{
	"run": `usage: fosim [--data DIR] run [--map IF=ADDR,…] [--port-offset N] [--ssh ADDR] [--ike-addr IP] [--ike-port N] [--ike-natt-port N]

The appliance with its console on this terminal: iked, admin SSH and the
control socket run in this process. The console asks "login:" and
"Password:" (a new unit's admin has an empty password, then chooses one);
exit or Ctrl-D logs out to "login:". SIGINT, SIGTERM, SIGHUP (the terminal
closing) or "execute shutdown" stop the appliance. Lines piped in (stdin
not a terminal) run as admin without a login, until the end of input.
` + listenerUsage,
	"serve": `usage: fosim [--data DIR] serve [--map IF=ADDR,…] [--port-offset N] [--ssh ADDR] [--ike-addr IP] [--ike-port N] [--ike-natt-port N]

The appliance without a console (labs, CI, containers), until SIGINT,
SIGTERM, SIGHUP or "execute shutdown" over SSH.
` + listenerUsage,
	"apply": `usage: fosim [--data DIR] apply FILE|- [--lenient] [--continue]

Run a configuration script (FILE, or - for stdin) as one transaction: any
error and nothing is committed; errors show FILE:line:column.
  --continue  run it line by line as a FortiGate runs a script, keeping the
              statements that succeed
  --lenient   skip config blocks of tables fosim does not model
The configuration before the script is kept as a revision.
`,
	"show": `usage: fosim [--data DIR] show [PATH…] [--full]

Print the configuration, or one table or entry ("show firewall address
all"). --full prints every value (show full-configuration).
`,
	"get": `usage: fosim [--data DIR] get PATH…

Print a table or entry as "get" does ("get system global").
`,
	"backup": `usage: fosim [--data DIR] backup FILE

Write a FortiOS backup of the configuration (with its #config-version
header) to FILE, atomically.
`,
	"restore": `usage: fosim [--data DIR] restore FILE|- [--lenient]

Replace the configuration with a backup (atomic; the #config-version header
is checked). --lenient keeps config blocks of tables fosim does not model
verbatim.
`,
	"help": usage,
	"lab":  labUsage,
	"idp":  idpUsage,
	"ems":  emsUsage,
}

// hostCommands are the commands that reach a running appliance's store
// through its control socket.
var hostCommands = map[string]bool{"apply": true, "show": true, "get": true, "backup": true, "restore": true}

// flagUse says which commands take each option; those with a value take
// the next argument (or --flag=value).
var flagUse = map[string]struct {
	value    bool
	commands string
}{
	"data":          {true, "*"},
	"ssh":           {true, "run serve"},
	"ike-addr":      {true, "run serve"},
	"ike-port":      {true, "run serve"},
	"ike-natt-port": {true, "run serve"},
	"map":           {true, "run serve"},
	"port-offset":   {true, "run serve"},
	"lenient":       {false, "apply restore"},
	"continue":      {false, "apply"},
	"full":          {false, "show"},
}

// invocation is a parsed command line.
type invocation struct {
	cmd     string
	pos     []string
	flags   map[string]string // name → value ("" for a switch)
	dataSet bool
	help    bool
	// globalHelp: --help came before any command ("fosim --help").
	globalHelp bool
	rest       []string // the arguments of a command that parses its own
}

// ownArguments are the commands that parse their own arguments.
var ownArguments = map[string]bool{"client": true, "lab": true, "idp": true, "ems": true}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// parseArgs reads options before and after the command ("apply x.conf
// --lenient", "--data D show"); the client's arguments are its own.
// A bad option is reported after the whole line is read, so that --help
// anywhere still answers.
func parseArgs(args []string) (inv *invocation, err error) {
	inv = &invocation{flags: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if ownArguments[inv.cmd] {
			inv.rest = args[i:]
			break
		}
		if isHelp(a) {
			inv.help = true
			inv.globalHelp = inv.cmd == ""
			continue
		}
		if a == "--" {
			inv.pos = append(inv.pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if inv.cmd == "" {
				inv.cmd = a
			} else {
				inv.pos = append(inv.pos, a)
			}
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		use, ok := flagUse[name]
		switch {
		case !ok:
			err = cmp.Or(err, fmt.Errorf("unknown option %s", a))
			continue
		case use.value && !hasValue:
			if i+1 >= len(args) {
				err = cmp.Or(err, fmt.Errorf("option %s needs a value", a))
				continue
			}
			i++
			value = args[i]
		case !use.value && hasValue:
			err = cmp.Or(err, fmt.Errorf("option --%s takes no value", name))
			continue
		}
		inv.flags[name] = value
		if name == "data" {
			inv.dataSet = true
		}
	}
	if inv.cmd == "" {
		inv.cmd = "run"
	}
	return inv, err
}

// checkFlags refuses an option the command does not take.
func (inv *invocation) checkFlags() error {
	for name := range inv.flags {
		if use := flagUse[name]; use.commands != "*" && !strings.Contains(" "+use.commands+" ", " "+inv.cmd+" ") {
			return fmt.Errorf("%s takes no --%s", inv.cmd, name)
		}
	}
	return nil
}

func (inv *invocation) listenerOptions() (applianceOptions, error) {
	opt := applianceOptions{SSHAddr: inv.flags["ssh"]}
	opt.IKE.Addr = inv.flags["ike-addr"]
	if v, ok := inv.flags["map"]; ok {
		for _, m := range strings.Split(v, ",") {
			if err := opt.Map.ParseMapping(strings.TrimSpace(m)); err != nil {
				return opt, err
			}
		}
	}
	if v, ok := inv.flags["port-offset"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 64000 {
			return opt, fmt.Errorf("bad --port-offset %q (0 to 64000)", v)
		}
		opt.Map.PortOffset = n
	}
	for _, p := range []struct {
		flag string
		dst  *int
	}{{"ike-port", &opt.IKE.Port}, {"ike-natt-port", &opt.IKE.NATTPort}} {
		v, ok := inv.flags[p.flag]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 65535 {
			return opt, fmt.Errorf("bad --%s %q (1 to 65535)", p.flag, v)
		}
		*p.dst = n
	}
	return opt, nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	inv, err := parseArgs(args)
	// Commands that parse their own arguments.
	switch inv.cmd {
	case "client":
		if inv.dataSet {
			fmt.Fprintln(stderr, "fosim client: --data is ignored: the client keeps no state")
		}
		return clientCmd(inv.rest, stdout, stderr)
	case "lab":
		return labCmd(inv.rest, stdout, stderr)
	case "idp":
		return idpCmd(inv.rest, inv.flags["data"], stdin, stdout, stderr)
	case "ems":
		return emsCmd(inv.rest, inv.flags["data"], stdin, stdout, stderr)
	}
	switch {
	case inv.help && (inv.globalHelp || inv.cmd == "help"):
		fmt.Fprint(stdout, usage)
		return 0
	case inv.help:
		fmt.Fprint(stdout, usageOf(inv.cmd))
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "fosim: %v\n%s", err, usageOf(inv.cmd))
		return 2
	case inv.cmd == "help":
		if len(inv.pos) == 1 && inv.pos[0] == "client" {
			return clientCmd([]string{"--help"}, stdout, stderr)
		}
		if len(inv.pos) == 1 {
			fmt.Fprint(stdout, usageOf(inv.pos[0]))
		} else {
			fmt.Fprint(stdout, usage)
		}
		return 0
	}
	if _, ok := commandUsage[inv.cmd]; !ok {
		fmt.Fprintf(stderr, "fosim: unknown command %q\n%s", inv.cmd, usage)
		return 2
	}
	if err := inv.checkFlags(); err != nil {
		fmt.Fprintf(stderr, "fosim: %v\n%s", err, commandUsage[inv.cmd])
		return 2
	}
	if msg := inv.checkPositional(); msg != "" {
		fmt.Fprint(stderr, msg)
		return 2
	}
	dir, err := resolveDataDir(inv.flags["data"])
	if err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	if hostCommands[inv.cmd] {
		return hostCommand(dir, inv, stdin, stdout, stderr)
	}
	opt, err := inv.listenerOptions()
	if err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 2
	}
	st, err := openStore(dir)
	if err != nil {
		if control.Running(dir) {
			err = fmt.Errorf("an appliance already runs on %s (fosim run or serve): reach it over SSH, or stop it first", dir)
		}
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	defer st.Close()
	if inv.cmd == "serve" {
		return serve(st, dir, opt, stdout, stderr)
	}
	return runAppliance(st, dir, opt, stdin, stdout, stderr)
}

func usageOf(cmd string) string {
	if text, ok := commandUsage[cmd]; ok {
		return text
	}
	return usage
}

// checkPositional returns the usage line when the arguments do not fit.
func (inv *invocation) checkPositional() string {
	n := len(inv.pos)
	switch inv.cmd {
	case "apply":
		if n != 1 {
			return "usage: fosim apply FILE|- [--lenient] [--continue]\n"
		}
	case "backup":
		if n != 1 {
			return "usage: fosim backup FILE\n"
		}
	case "restore":
		if n != 1 {
			return "usage: fosim restore FILE|- [--lenient]\n"
		}
	case "run", "serve":
		if n != 0 {
			return fmt.Sprintf("usage: fosim %s [--map IF=ADDR,…] [--port-offset N] [--ssh ADDR] [--ike-addr IP] [--ike-port N] [--ike-natt-port N]\n", inv.cmd)
		}
	}
	return ""
}

// hostCommand runs show, get, apply, backup or restore: through the
// appliance running on dir when there is one, else on the store opened
// here; control.Execute answers either way. Files are read and written
// here, with the caller's permissions and working directory.
func hostCommand(dir string, inv *invocation, stdin io.Reader, stdout, stderr io.Writer) int {
	_, lenient := inv.flags["lenient"]
	_, cont := inv.flags["continue"]
	_, full := inv.flags["full"]
	req := control.Request{Command: inv.cmd, Lenient: lenient, Continue: cont, Full: full}
	switch inv.cmd {
	case "show", "get":
		req.Paths = inv.pos
	case "apply", "restore":
		input, name, err := readInput(inv.pos[0], stdin)
		if err != nil {
			fmt.Fprintln(stderr, "fosim:", err)
			return 1
		}
		req.Input, req.InputName = input, name
	}
	resp, err := execute(dir, req)
	if err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	stdout.Write(resp.Stdout)
	stderr.Write(resp.Stderr)
	if inv.cmd == "backup" && resp.Code == 0 {
		if err := writeFileAtomic(inv.pos[0], resp.File); err != nil {
			fmt.Fprintln(stderr, "fosim:", err)
			return 1
		}
	}
	return resp.Code
}

// execute asks the appliance running on dir, else opens the store. An
// appliance that starts between the two holds the store: asked again.
func execute(dir string, req control.Request) (control.Response, error) {
	resp, err := control.Do(dir, req)
	if !errors.Is(err, control.ErrNotRunning) {
		return resp, err
	}
	st, err := openStore(dir)
	if err != nil {
		if resp, cerr := control.Do(dir, req); cerr == nil {
			return resp, nil
		}
		return control.Response{}, err
	}
	defer st.Close()
	return control.Execute(cli.NewAppliance(st), req), nil
}

func resolveDataDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if d := os.Getenv("FOSIM_DATA"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "fosim"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no data directory: set --data or FOSIM_DATA (%v)", err)
	}
	return filepath.Join(home, ".local", "state", "fosim"), nil
}

func openStore(dir string) (*cmdb.Store, error) {
	schema, err := cmdb.LoadSchema()
	if err != nil {
		return nil, err
	}
	st, err := cmdb.Open(dir, schema, cmdb.Options{})
	if err != nil {
		return nil, err
	}
	if err := st.EnsureFactory(st.Serial()); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// readInput reads a script or backup (FILE, or - for stdin), refusing one
// over control.MaxInput before reading it whole.
func readInput(name string, stdin io.Reader) ([]byte, string, error) {
	r, display := stdin, "<stdin>"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, name, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > control.MaxInput {
			return nil, name, &control.ErrTooLarge{Name: name, Bytes: fi.Size()}
		}
		r, display = f, name
	}
	b, err := io.ReadAll(io.LimitReader(r, control.MaxInput+1))
	if err != nil {
		return nil, display, err
	}
	if len(b) > control.MaxInput {
		return nil, display, fmt.Errorf("%s: over %d MiB, at most %d MiB allowed", display, control.MaxInput>>20, control.MaxInput>>20)
	}
	return b, display, nil
}

// writeFileAtomic writes a whole file or none, so a crash never leaves
// half a backup.
func writeFileAtomic(name string, data []byte) error {
	return atomicfile.Write(name, data, 0o600)
}
