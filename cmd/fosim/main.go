// Command fosim is a FortiOS-style appliance: a configuration engine with a
// persistent CMDB, and (as they land) the appliance daemons.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/daemons/iked"
	"github.com/fosim/fosim/grammar"
)

const usage = `usage: fosim [--data DIR] <command> [arguments]

commands:
  run                      the appliance's console on this terminal (default):
                           "login:" and "Password:" (a new unit's admin has an
                           empty password, then chooses one); exit logs out,
                           Ctrl-D at "login:" quits; lines piped in (no
                           terminal) run as admin without a login
  apply FILE|- [--lenient] [--continue]
                           run a configuration script as one transaction: any
                           error and nothing is committed (errors show
                           FILE:line:column); --continue runs it line by line
                           as a FortiGate runs a script and says what it kept
  show [PATH…] [--full]    print the configuration (or one table / entry)
  get PATH…                print a table or entry as "get" does
  backup FILE              write a FortiOS backup of the configuration
  restore FILE [--lenient] replace the configuration with a backup
  client --server ADDR --psk KEY|--psk-file F [--proposal P] [--dh N] [--mode-cfg]
         [--eap-user U --eap-password P|--eap-password-file F [--eap-method md5]] [--rekey]
                           dial an IKEv2 gateway with fosim's own initiator;
                           secrets also from $FOSIM_PSK / $FOSIM_EAP_PASSWORD
                           (a flag is visible in the process list)
  serve [--ssh ADDR] [--ike-addr IP] [--ike-port N] [--ike-natt-port N]
                           the headless appliance until interrupted: SSH on
                           ADDR (default 127.0.0.1:2222), IKE on UDP 500 and
                           4500 of all addresses (ports below 1024 need root)

The data directory is --data, else $FOSIM_DATA, else $XDG_STATE_HOME/fosim
(~/.local/state/fosim). It is created with factory defaults on first use.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fosim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if len(args) > 0 && args[0] == "client" {
		return clientCmd(args[1:], stdout, stderr)
	}
	dataDir := fs.String("data", "", "data directory")
	sshAddr := fs.String("ssh", "127.0.0.1:2222", "SSH listen address (serve)")
	var ikeOpt iked.Options
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	cmd := "run"
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	// Flags may also follow the command ("apply x.conf --lenient").
	lenient, full, cont := false, false, false
	var pos []string
	for i := 0; i < len(rest); i++ {
		switch a := rest[i]; {
		case a == "--lenient" || a == "-lenient":
			lenient = true
		case a == "--continue" || a == "-continue":
			cont = true
		case a == "--full" || a == "-full":
			full = true
		case (a == "--data" || a == "-data") && i+1 < len(rest):
			*dataDir = rest[i+1]
			i++
		case strings.HasPrefix(a, "--data="):
			*dataDir = strings.TrimPrefix(a, "--data=")
		case (a == "--ssh" || a == "-ssh") && i+1 < len(rest):
			*sshAddr = rest[i+1]
			i++
		case strings.HasPrefix(a, "--ssh="):
			*sshAddr = strings.TrimPrefix(a, "--ssh=")
		case a == "--ike-addr" && i+1 < len(rest):
			ikeOpt.Addr = rest[i+1]
			i++
		case (a == "--ike-port" || a == "--ike-natt-port") && i+1 < len(rest):
			n, err := strconv.Atoi(rest[i+1])
			if err != nil || n <= 0 || n > 65535 {
				fmt.Fprintf(stderr, "fosim: bad %s %q\n", a, rest[i+1])
				return 2
			}
			if a == "--ike-port" {
				ikeOpt.Port = n
			} else {
				ikeOpt.NATTPort = n
			}
			i++
		default:
			pos = append(pos, a)
		}
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "run", "apply", "show", "get", "backup", "restore", "serve":
	default:
		fmt.Fprintf(stderr, "fosim: unknown command %q\n%s", cmd, usage)
		return 2
	}
	dir, err := resolveDataDir(*dataDir)
	if err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	st, err := openStore(dir)
	if err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	defer st.Close()
	switch cmd {
	case "run":
		return runShell(st, dir, stdin, stdout, stderr)
	case "serve":
		return serve(st, dir, *sshAddr, ikeOpt, stdout, stderr)
	case "apply":
		return applyCmd(st, pos, lenient, cont, stdin, stdout, stderr)
	case "show", "get":
		return showCmd(st, cmd, pos, full, stdout, stderr)
	case "backup":
		if len(pos) != 1 {
			fmt.Fprintln(stderr, "usage: fosim backup FILE")
			return 2
		}
		if err := writeFileAtomic(pos[0], []byte(st.Backup("admin"))); err != nil {
			fmt.Fprintln(stderr, "fosim:", err)
			return 1
		}
		return 0
	case "restore":
		return restoreCmd(st, pos, lenient, stdout, stderr)
	}
	return 0
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

func printErrors(w io.Writer, file string, errs []cmdb.ScriptError) {
	for _, e := range errs {
		if e.Pos.Line > 0 {
			fmt.Fprintf(w, "%s:%d:%d: %s\n", file, e.Pos.Line, e.Pos.Col, e.Err.Error())
		} else {
			fmt.Fprintf(w, "%s: %s\n", file, e.Err.Error())
		}
		fmt.Fprintf(w, "Command fail. Return code %d\n", e.Code())
	}
}

func readInput(name string, stdin io.Reader) (string, string, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		return string(b), "<stdin>", err
	}
	b, err := os.ReadFile(name)
	return string(b), name, err
}

func applyCmd(st *cmdb.Store, pos []string, lenient, cont bool, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: fosim apply FILE|- [--lenient] [--continue]")
		return 2
	}
	src, name, err := readInput(pos[0], stdin)
	if err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	// The configuration before the script stays in the revision list.
	if _, err := st.SaveConfigRevision("admin", "Automatically backed up before fosim apply"); err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	sess := st.NewSystemSession("admin", "apply "+name)
	res := cmdb.RunScript(sess, src, cmdb.ScriptOptions{Lenient: lenient, Atomic: !cont})
	io.WriteString(stdout, res.Output.String())
	printErrors(stderr, name, res.Errors)
	if len(res.Verbatim) > 0 {
		fmt.Fprintf(stderr, "%s: skipped %d config block(s) for tables fosim does not model (apply keeps nothing verbatim; use restore --lenient)\n", name, len(res.Verbatim))
	}
	if len(res.Errors) > 0 {
		if cont {
			fmt.Fprintf(stderr, "%s: %d error(s); kept the %d change(s) of the statements that succeeded\n", name, len(res.Errors), res.Committed)
		} else {
			fmt.Fprintf(stderr, "%s: %d error(s); nothing committed (--continue runs the statements that succeed)\n", name, len(res.Errors))
		}
		return 1
	}
	return 0
}

func restoreCmd(st *cmdb.Store, pos []string, lenient bool, stdout, stderr io.Writer) int {
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: fosim restore FILE [--lenient]")
		return 2
	}
	src, name, err := readInput(pos[0], nil)
	if err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	res, err := st.Restore(src, "admin", lenient)
	printErrors(stderr, name, res.Errors)
	if err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	if res.Kept > 0 {
		fmt.Fprintf(stdout, "kept %d unmodelled config block(s) verbatim\n", res.Kept)
	}
	fmt.Fprintf(stdout, "restored: %d change(s), revision %d\n", res.Changes, res.Revision)
	if len(res.Errors) > 0 {
		return 1
	}
	return 0
}

func showCmd(st *cmdb.Store, cmd string, pos []string, full bool, stdout, stderr io.Writer) int {
	words := []string{cmd}
	if full {
		words = append(words, "full-configuration")
	}
	for _, p := range pos {
		words = append(words, grammar.Quote(p))
	}
	sess := st.NewSystemSession("admin", cmd)
	var out strings.Builder
	sh := cli.New(cli.NewAppliance(st), sess, &out)
	defer sh.Close()
	sh.Line(strings.Join(words, " "))
	io.WriteString(stdout, out.String())
	if strings.Contains(out.String(), "Command fail. Return code") {
		return 1
	}
	return 0
}

// writeFileAtomic writes through a temporary file and a rename, so a crash
// never leaves half a backup.
func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".fosim-backup-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), name)
}
