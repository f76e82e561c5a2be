package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/internal/fixed"
)

// Configuration revisions: whole configurations saved on the unit's flash
// (cmdb/configrev.go says when they are made).

func init() {
	commands = append(commands,
		&command{path: "execute revision list config", help: "List the configuration revisions.", run: executeRevisionList, readsAll: true},
		&command{path: "execute revision delete config", help: "Delete a configuration revision.", args: "<revision ID>", minArgs: 1, maxArgs: 1, run: executeRevisionDelete, writes: true},
		&command{path: "execute revision diff", help: "Unified diff of two configuration revisions, 0 for the running configuration (fosim).", args: "<revision ID> <revision ID>", minArgs: 2, maxArgs: 2, run: executeRevisionDiff, readsAll: true},
		&command{path: "execute backup config flash", help: "Backup config file to flash.", args: "<comment>", maxArgs: 1, run: executeBackupFlash, writes: true, readsAll: true},
		&command{path: "execute restore config flash", help: "Load config file from flash.", args: "<revision ID>", minArgs: 1, maxArgs: 1, run: executeRestoreFlash, super: true},
	)
}

func revisionID(word string) (uint64, error) {
	n, err := strconv.ParseUint(word, 10, 64)
	if err != nil {
		return 0, &cmdb.Error{Msg: "value parse error before '" + escapedExcerpt(word, 40) + "'", Code: cmdb.CodeValue}
	}
	return n, nil
}

func executeRevisionList(sh *Shell, args []string, out io.Writer) error {
	revs, err := sh.App.Store.ConfigRevisions()
	if err != nil {
		return err
	}
	fw := "V7.6.1-build" + cmdb.BuildNumber + "-" + fixed.GABuildDate
	fmt.Fprintf(out, "Last Firmware Version: %s\n", fw)
	fmt.Fprintf(out, "%-6s%-22s%-16s%-26s%s\n", "ID", "TIME", "ADMIN", "FIRMWARE VERSION", "COMMENT")
	loc := sh.App.Clock.Now().Location()
	for _, r := range revs {
		fmt.Fprintf(out, "%5d %-22s%-16s%-26s%s\n", r.ID, r.Time.In(loc).Format("2006-01-02 15:04:05"), r.User, fw, r.Comment)
	}
	return nil
}

func executeRevisionDelete(sh *Shell, args []string, out io.Writer) error {
	id, err := revisionID(args[0])
	if err != nil {
		return err
	}
	return sh.App.Store.DeleteConfigRevision(id)
}

// revisionBody is a revision's configuration without its header; 0 is the
// running configuration.
func revisionBody(st *cmdb.Store, id uint64) (string, error) {
	text := ""
	if id == 0 {
		text = st.Backup("admin")
	} else {
		var err error
		if text, err = st.ConfigRevisionText(id); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if !strings.HasPrefix(line, "#") {
			b.WriteString(line)
		}
	}
	return b.String(), nil
}

func executeRevisionDiff(sh *Shell, args []string, out io.Writer) error {
	var texts [2]string
	for i, a := range args {
		id, err := revisionID(a)
		if err != nil {
			return err
		}
		if texts[i], err = revisionBody(sh.App.Store, id); err != nil {
			return err
		}
	}
	io.WriteString(out, cmdb.UnifiedDiff(texts[0], texts[1], "revision "+args[0], "revision "+args[1]))
	return nil
}

func executeBackupFlash(sh *Shell, args []string, out io.Writer) error {
	comment := ""
	if len(args) > 0 {
		comment = args[0]
	}
	id, err := sh.App.Store.SaveConfigRevision(sh.Session.User, comment)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Config backed up to flash, revision %d.\n", id)
	return nil
}

func executeRestoreFlash(sh *Shell, args []string, out io.Writer) error {
	id, err := revisionID(args[0])
	if err != nil {
		return err
	}
	text, err := sh.App.Store.ConfigRevisionText(id)
	if err != nil {
		return err
	}
	if !sh.confirm("This operation will overwrite the current setting and could possibly reboot the system!") {
		return nil
	}
	return sh.restoreText([]byte(text), out)
}

// backupOnLogout saves a revision when an admin who changed the
// configuration logs out, with revision-backup-on-logout enable.
func (sh *Shell) backupOnLogout() {
	st := sh.App.Store
	if sh.Session.Committed() == 0 || st.SingletonValue("system global", "revision-backup-on-logout") != "enable" {
		return
	}
	if _, err := st.SaveConfigRevision(sh.Session.User, "Automatically backed up on logout"); err != nil && sh.App.Debug != nil {
		sh.App.Debug.Logger("cli").Printf(1, "revision backup on logout failed: %v", err)
	}
}
