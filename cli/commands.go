package cli

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
	"github.com/fosim/fosim/internal/fixed"
)

// command is a system command of the shell (not a configuration table):
// "get system status", "execute revision list config" …
type command struct {
	path string // "execute revision list config"
	help string
	// args describes the arguments for '?' ("<yyyy-mm-dd>"); "" for none.
	args string
	// minArgs/maxArgs bound the arguments after the path.
	minArgs, maxArgs int
	run              func(sh *Shell, args []string, out io.Writer) error
	// writes marks a command that changes the unit: the admin's profile
	// must have sysgrp read-write. super marks one that replaces the
	// whole configuration (restore, factory reset): only a super_admin,
	// or a profile could hand itself rights it lacks. readsAll marks one
	// that reads the whole configuration (backup): every group readable.
	writes, super, readsAll bool
}

// commands is the shell's command tree; '?' and Tab read it. Each file
// of commands appends its own in an init (files init in name order: none
// may assign the list).
var commands []*command

func init() {
	commands = append(commands, []*command{
		{path: "get system status", help: "System status.", run: getSystemStatus},
		{path: "execute factory-reset", help: "Reset to factory default.", run: executeFactoryReset, writes: true, super: true},
		{path: "execute date", help: "Get/set system date.", args: "<yyyy-mm-dd>", maxArgs: 1, run: executeDate},
		{path: "execute time", help: "Get/set system time.", args: "<hh:mm:ss>", maxArgs: 1, run: executeTime},
	}...)
}

// lookupCommand matches a statement against the command tree, each word
// possibly a unique prefix ("exe rev li conf").
func lookupCommand(st grammar.Stmt) (*command, []string, bool) {
	words := append([]string{st.Verb}, wordTexts(st.Args)...)
	cands := commands
	for depth := 1; ; depth++ {
		var next []*command
		var exact []*command
		for _, c := range cands {
			p := strings.Fields(c.path)
			if depth > len(p) {
				continue
			}
			if depth > len(words) {
				return nil, nil, false
			}
			if p[depth-1] == words[depth-1] {
				exact = append(exact, c)
			}
			if strings.HasPrefix(p[depth-1], words[depth-1]) {
				next = append(next, c)
			}
		}
		if len(exact) > 0 {
			next = exact
		}
		if len(next) == 0 {
			return nil, nil, false
		}
		// Commands sharing the prefix must share the word to go on.
		w := strings.Fields(next[0].path)[depth-1]
		for _, c := range next {
			if strings.Fields(c.path)[depth-1] != w {
				return nil, nil, false
			}
		}
		cands = next
		for _, c := range cands {
			if len(strings.Fields(c.path)) == depth {
				args := words[depth:]
				return c, args, true
			}
		}
	}
}

func (c *command) check(args []string) error {
	if len(args) < c.minArgs {
		return &cmdb.Error{Msg: "incomplete command in the end", Code: cmdb.CodeIncomplete}
	}
	if len(args) > c.maxArgs {
		return &cmdb.Error{Msg: "command parse error before '" + args[c.maxArgs] + "'", Code: cmdb.CodeParse}
	}
	return nil
}

// configAreas are the first words of FortiOS configuration paths: a get or
// show below one of them that fosim does not model is "not simulated yet"
// rather than a parse error.
var configAreas = map[string]bool{
	"alertemail": true, "antivirus": true, "application": true, "authentication": true,
	"dlp": true, "dnsfilter": true, "emailfilter": true, "endpoint-control": true,
	"extension-controller": true, "file-filter": true, "firewall": true, "ftp-proxy": true,
	"hardware": true, "icap": true, "ips": true, "ipsec": true, "log": true, "report": true,
	"router": true, "switch-controller": true, "system": true, "user": true, "videofilter": true,
	"vpn": true, "waf": true, "wanopt": true, "web-proxy": true, "webfilter": true,
	"wireless-controller": true, "ztna": true,
}

func notSimulatedGet(st grammar.Stmt) (string, bool) {
	if len(st.Args) == 0 || st.Args[0].Quoted {
		return "", false
	}
	return st.Args[0].Text, configAreas[st.Args[0].Text]
}

// OperationMode is system settings' opmode as FortiOS shows it (get
// system status, the dashboard): NAT or Transparent.
func OperationMode(st *cmdb.Store) string {
	if st.SingletonValue("system settings", "opmode") == "transparent" {
		return "Transparent"
	}
	return "NAT"
}

// getSystemStatus prints "get system status": serial, hostname, modes,
// private encryption, CPUs and time are the appliance's; firmware,
// license, signature databases and hardware are the values of package
// fixed (the simulated 7.6.1 image).
func getSystemStatus(sh *Shell, args []string, out io.Writer) error {
	st := sh.App.Store
	now := sh.App.Clock.Now()
	opmode := OperationMode(st)
	nat, tp := 1, 0
	if opmode != "NAT" {
		nat, tp = 0, 1
	}
	priv := "Disable"
	if st.SingletonValue("system global", "private-data-encryption") == "enable" {
		priv = "Enable"
	}
	cpus := runtime.NumCPU()
	fmt.Fprintf(out, "Version: %s %s\n", fixed.Platform, cmdb.VersionShort)
	fmt.Fprintf(out, "First GA patch build date: %s\n", fixed.GABuildDate)
	fmt.Fprintf(out, "Security Level: %s\n", fixed.SecurityLevel)
	fmt.Fprintf(out, "Firmware Signature: %s\n", fixed.FirmwareSignature)
	fmt.Fprintf(out, "Virus-DB: %s\n", fixed.VirusDB)
	fmt.Fprintf(out, "Extended DB: %s\n", fixed.ExtendedDB)
	fmt.Fprintf(out, "Extreme DB: %s\n", fixed.ExtremeDB)
	fmt.Fprintf(out, "IPS-DB: %s\n", fixed.IPSDB)
	fmt.Fprintf(out, "IPS-ETDB: %s\n", fixed.IPSETDB)
	fmt.Fprintf(out, "APP-DB: %s\n", fixed.APPDB)
	fmt.Fprintf(out, "Serial-Number: %s\n", st.Serial())
	fmt.Fprintf(out, "License Status: %s\n", fixed.LicenseStatus)
	fmt.Fprintf(out, "VM Resources: %d CPU/%d allowed, %d MB RAM/%d MB allowed\n", min(cpus, fixed.VMCPULimit), min(cpus, fixed.VMCPULimit), fixed.VMMemoryMB, fixed.VMMemoryAllowedMB)
	fmt.Fprintf(out, "Log hard disk: %s\n", fixed.LogHardDisk)
	fmt.Fprintf(out, "Hostname: %s\n", Hostname(st))
	fmt.Fprintf(out, "Private Encryption: %s\n", priv)
	fmt.Fprintf(out, "Operation Mode: %s\n", opmode)
	fmt.Fprintf(out, "Current virtual domain: root\n")
	fmt.Fprintf(out, "Max number of virtual domains: %d\n", fixed.MaxVDOMs)
	fmt.Fprintf(out, "Virtual domains status: %d in NAT mode, %d in TP mode\n", nat, tp)
	fmt.Fprintf(out, "Virtual domain configuration: disable\n")
	fmt.Fprintf(out, "FIPS-CC mode: disable\n")
	fmt.Fprintf(out, "Current HA mode: standalone\n")
	fmt.Fprintf(out, "Branch point: %s\n", cmdb.BuildNumber)
	fmt.Fprintf(out, "Release Version Information: %s\n", fixed.ReleaseVersionInformation)
	fmt.Fprintf(out, "FortiOS x86-64: %s\n", fixed.FortiOSx8664)
	fmt.Fprintf(out, "System time: %s\n", now.Format("Mon Jan _2 15:04:05 2006"))
	fmt.Fprintf(out, "Last reboot reason: %s\n", fixed.LastRebootReason)
	return nil
}

func executeFactoryReset(sh *Shell, args []string, out io.Writer) error {
	if !sh.confirm("This operation will reset the system to factory default!") {
		return nil
	}
	if err := sh.App.Store.FactoryReset(sh.App.Store.Serial()); err != nil {
		return err
	}
	fmt.Fprintf(out, "System is resetting to factory default...\n")
	sh.Session.Reset()
	sh.exited = true // the unit reboots: the session ends
	return nil
}

func executeDate(sh *Shell, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(out, "current date is: %s\n", sh.App.Clock.Now().Format("2006-01-02"))
		return nil
	}
	if err := sh.mayChangeSystem(); err != nil {
		return err
	}
	d, err := time.Parse("2006-01-02", args[0])
	if err != nil || d.Year() < 2001 || d.Year() > 2037 {
		return &cmdb.Error{Msg: "value parse error before '" + args[0] + "'", Code: cmdb.CodeValue}
	}
	sh.App.Clock.SetDate(d.Year(), d.Month(), d.Day())
	return nil
}

func executeTime(sh *Shell, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(out, "current time is: %s\n", sh.App.Clock.Now().Format("15:04:05"))
		return nil
	}
	if err := sh.mayChangeSystem(); err != nil {
		return err
	}
	parts := strings.Split(args[0], ":")
	var hms [3]int
	ok := len(parts) >= 2 && len(parts) <= 3
	for i := 0; ok && i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		ok = err == nil && n >= 0 && n < []int{24, 60, 60}[i]
		hms[i] = n
	}
	if !ok {
		return &cmdb.Error{Msg: "value parse error before '" + args[0] + "'", Code: cmdb.CodeValue}
	}
	sh.App.Clock.SetTimeOfDay(hms[0], hms[1], hms[2])
	return nil
}

// mayChangeSystem checks that the admin's profile allows changing the unit
// (sysgrp read-write), as FortiOS requires for execute commands that do.
func (sh *Shell) mayChangeSystem() error {
	if !sh.Session.Access().Can("sysgrp", cmdb.LevelReadWrite) {
		return permissionDenied()
	}
	return nil
}

func permissionDenied() *cmdb.Error {
	return &cmdb.Error{Msg: "Permission denied.", Code: cmdb.CodePermission}
}

// mayRun checks a command's access needs against the admin's profile.
func (sh *Shell) mayRun(c *command) error {
	a := sh.Session.Access()
	switch {
	case c.super && !a.Super():
		return permissionDenied()
	case c.readsAll && !a.CanReadAll():
		return permissionDenied()
	case c.writes:
		return sh.mayChangeSystem()
	}
	return nil
}
