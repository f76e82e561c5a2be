package cli

// execute backup config … / execute restore config …: the configuration
// goes to or comes from a TFTP or FTP server or the USB disk, as on a
// FortiGate.
// Nothing here takes a host path: the USB disk is the folder "usb" of the
// data directory, reached through an os.Root so that no name, ".." or
// symlink leads out of it.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
	"github.com/fosim/fosim/internal/ftp"
	"github.com/fosim/fosim/internal/tftp"
)

func init() {
	commands = append(commands,
		&command{path: "execute backup config tftp", help: "Backup config file to TFTP server.", args: "<string> <tftp-server> <passwd>", minArgs: 2, maxArgs: 3, run: executeBackupTFTP, readsAll: true},
		&command{path: "execute backup config usb", help: "Backup config file to USB disk.", args: "<string> <passwd>", minArgs: 1, maxArgs: 2, run: executeBackupUSB, readsAll: true},
		&command{path: "execute backup config ftp", help: "Backup config file to FTP server.", args: "<string> <ftp-server>[:ftp-port] <user> <passwd> <passwd>", minArgs: 2, maxArgs: 5, run: executeBackupFTP, readsAll: true},
		&command{path: "execute restore config tftp", help: "Load config file from TFTP server.", args: "<string> <tftp-server> <passwd>", minArgs: 2, maxArgs: 3, run: executeRestoreTFTP, super: true},
		&command{path: "execute restore config usb", help: "Load config file from USB disk.", args: "<string> <passwd>", minArgs: 1, maxArgs: 2, run: executeRestoreUSB, super: true},
		&command{path: "execute restore config ftp", help: "Load config file from FTP server.", args: "<string> <ftp-server>[:ftp-port] <user> <passwd> <passwd>", minArgs: 2, maxArgs: 5, run: executeRestoreFTP, super: true},
	)
}

// configTargets are where FortiOS 7.4 backs a configuration up to and
// restores it from (CLI reference, "execute backup" / "execute restore");
// a host file is not one of them.
var configTargets = map[string][]string{
	"backup":  {"flash", "ftp", "management-station", "sftp", "tftp", "usb", "usb-mode"},
	"restore": {"dhcp", "flash", "ftp", "management-station", "sftp", "tftp", "usb", "usb-mode"},
}

// unlistedTransfer answers an "execute backup|restore …" the command tree
// does not hold: a target FortiOS lacks ("config file") is a parse error
// as on a FortiGate; the others are not simulated yet, named without their
// arguments (which hold server passwords).
func (sh *Shell) unlistedTransfer(words []string, out io.Writer) bool {
	abbrev := func(w, full string) bool { return len(w) >= 3 && strings.HasPrefix(full, w) }
	if len(words) < 2 || !abbrev(words[0], "execute") {
		return false
	}
	verb := ""
	for v := range configTargets {
		if abbrev(words[1], v) {
			verb = v
		}
	}
	if verb == "" {
		return false
	}
	if len(words) < 3 || !abbrev(words[2], "config") {
		named := "execute " + verb
		if len(words) > 2 {
			named += " " + escapedExcerpt(words[2], 40)
		}
		fmt.Fprintf(out, "not simulated yet: %s\n", named)
		return true
	}
	if len(words) < 4 {
		sh.fail(&cmdb.Error{Msg: "incomplete command in the end", Code: cmdb.CodeIncomplete})
		return true
	}
	var match []string
	for _, t := range configTargets[verb] {
		if t == words[3] {
			match = []string{t}
			break
		}
		if strings.HasPrefix(t, words[3]) {
			match = append(match, t)
		}
	}
	if len(match) != 1 {
		sh.fail(&cmdb.Error{Msg: "command parse error before '" + escapedExcerpt(words[3], 40) + "'", Code: cmdb.CodeParse})
		return true
	}
	fmt.Fprintf(out, "not simulated yet: execute %s config %s\n", verb, match[0])
	return true
}

const (
	// maxConfigFile bounds what a restore reads (a large FortiGate
	// configuration is a few MB).
	maxConfigFile = 16 << 20
	// transferTimeout bounds one backup or restore transfer.
	transferTimeout = 2 * time.Minute
	// usbFolder is the USB disk, inside the data directory.
	usbFolder = "usb"
)

// noPassword refuses the optional password of an encrypted backup:
// FortiOS's encrypted backup format is not published, and a file only
// fosim could read would not be a FortiOS backup.
func noPassword(args []string, at int) error {
	if len(args) > at {
		return notSimulated("password-encrypted backups; FortiOS's encrypted format is not published")
	}
	return nil
}

// ftpArgs reads "<string> <server>[:port] [<user> <passwd>] [<passwd>]":
// no user is an anonymous login; a user needs its password.
func ftpArgs(args []string) (name, server string, login ftp.Login, err error) {
	name, server = args[0], args[1]
	if err := checkRemoteName(name); err != nil {
		return "", "", login, err
	}
	if err := checkServer(server); err != nil {
		return "", "", login, err
	}
	if len(args) == 3 {
		return "", "", login, &cmdb.Error{Msg: "incomplete command in the end", Code: cmdb.CodeIncomplete}
	}
	if len(args) >= 4 {
		login = ftp.Login{User: args[2], Password: args[3]}
		if strings.ContainsFunc(login.User+login.Password, unicode.IsControl) {
			return "", "", login, &cmdb.Error{Msg: "value parse error before '" + escapedExcerpt(login.User, 40) + "'", Code: cmdb.CodeValue}
		}
	}
	return name, server, login, noPassword(args, 4)
}

func ftpClient() *ftp.Client { return &ftp.Client{MaxSize: maxConfigFile} }

func executeBackupFTP(sh *Shell, args []string, out io.Writer) error {
	name, server, login, err := ftpArgs(args)
	if err != nil {
		return err
	}
	text := sh.App.Store.Backup(sh.Session.User)
	fmt.Fprintf(out, "Please wait...\n\nConnect to ftp server %s ...\n", server)
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	if err := ftpClient().Put(ctx, server, login, name, []byte(text)); err != nil {
		return &cmdb.Error{Msg: "Send config file to ftp server failed.", Code: -1}
	}
	fmt.Fprintf(out, "Send config file to ftp server OK.\n")
	return nil
}

func executeRestoreFTP(sh *Shell, args []string, out io.Writer) error {
	name, server, login, err := ftpArgs(args)
	if err != nil {
		return err
	}
	if !sh.confirm("This operation will overwrite the current setting and could possibly reboot the system!") {
		return nil
	}
	fmt.Fprintf(out, "Please wait...\n\nConnect to ftp server %s ...\n", server)
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	data, err := ftpClient().Get(ctx, server, login, name)
	if err != nil {
		return &cmdb.Error{Msg: "Get config file from ftp server failed.", Code: -1}
	}
	fmt.Fprintf(out, "Get config file from ftp server OK.\n")
	return sh.restoreText(data, out)
}

func (sh *Shell) tftpClient() *tftp.Client {
	if sh.App.TFTP != nil {
		return sh.App.TFTP
	}
	return &tftp.Client{MaxSize: maxConfigFile}
}

// checkRemoteName refuses a TFTP file name that cannot go in a request
// packet: the server decides what a path means on its side.
func checkRemoteName(name string) error {
	if name == "" || len(name) > 255 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return &cmdb.Error{Msg: "value parse error before '" + escapedExcerpt(name, 40) + "'", Code: cmdb.CodeValue}
	}
	return nil
}

func checkServer(server string) error {
	if server == "" || len(server) > 255 || strings.ContainsFunc(server, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return &cmdb.Error{Msg: "value parse error before '" + escapedExcerpt(server, 40) + "'", Code: cmdb.CodeValue}
	}
	return nil
}

// tftpArgs checks "<file> <server> [<password>]".
func tftpArgs(args []string) (name, server string, err error) {
	name, server = args[0], args[1]
	if err := checkRemoteName(name); err != nil {
		return "", "", err
	}
	if err := checkServer(server); err != nil {
		return "", "", err
	}
	return name, server, noPassword(args, 2)
}

func executeBackupTFTP(sh *Shell, args []string, out io.Writer) error {
	name, server, err := tftpArgs(args)
	if err != nil {
		return err
	}
	text := sh.App.Store.Backup(sh.Session.User)
	fmt.Fprintf(out, "Please wait...\n\nConnect to tftp server %s ...\n", server)
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	if err := sh.tftpClient().Put(ctx, server, name, []byte(text)); err != nil {
		return &cmdb.Error{Msg: "Send config file to tftp server failed.", Code: -1}
	}
	fmt.Fprintf(out, "Send config file to tftp server OK.\n")
	return nil
}

func executeRestoreTFTP(sh *Shell, args []string, out io.Writer) error {
	name, server, err := tftpArgs(args)
	if err != nil {
		return err
	}
	if !sh.confirm("This operation will overwrite the current setting and could possibly reboot the system!") {
		return nil
	}
	fmt.Fprintf(out, "Please wait...\n\nConnect to tftp server %s ...\n", server)
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	data, err := sh.tftpClient().Get(ctx, server, name)
	if err != nil {
		return &cmdb.Error{Msg: "Get config file from tftp server failed.", Code: -1}
	}
	fmt.Fprintf(out, "Get config file from tftp server OK.\n")
	return sh.restoreText(data, out)
}

// The USB messages follow the TFTP ones ("… to usb disk" for "… to tftp
// server"); no FortiOS transcript of them was found to copy.

func executeBackupUSB(sh *Shell, args []string, out io.Writer) error {
	usb, err := sh.openUSB(args[0])
	if err != nil {
		return err
	}
	defer usb.Close()
	if err := noPassword(args, 1); err != nil {
		return err
	}
	text := sh.App.Store.Backup(sh.Session.User)
	fmt.Fprintf(out, "Please wait...\n\n")
	if err := writeUSBFile(usb, args[0], []byte(text)); err != nil {
		return err
	}
	fmt.Fprintf(out, "Send config file to usb disk OK.\n")
	return nil
}

func executeRestoreUSB(sh *Shell, args []string, out io.Writer) error {
	usb, err := sh.openUSB(args[0])
	if err != nil {
		return err
	}
	defer usb.Close()
	if err := noPassword(args, 1); err != nil {
		return err
	}
	if !sh.confirm("This operation will overwrite the current setting and could possibly reboot the system!") {
		return nil
	}
	fmt.Fprintf(out, "Please wait...\n\n")
	data, err := readUSBFile(usb, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Get config file from usb disk OK.\n")
	return sh.restoreText(data, out)
}

// restoreText replaces the configuration with a backup file. Errors quote
// the file only as short escaped excerpts of the statements at fault, and
// at most maxShownErrors of them: the file may be anything (a copy of a
// secret, binary data).
func (sh *Shell) restoreText(data []byte, out io.Writer) error {
	res, err := sh.App.Store.Restore(string(data), sh.Session.User, false)
	if err != nil {
		var errs []cmdb.ScriptError
		if res != nil {
			errs = res.Errors
		}
		for i, e := range errs {
			if i == maxShownErrors {
				fmt.Fprintf(out, "... and %d more error(s)\n", len(errs)-maxShownErrors)
				break
			}
			if e.Pos.Line > 0 {
				fmt.Fprintf(out, "line %d:%d: ", e.Pos.Line, e.Pos.Col)
			}
			fmt.Fprintf(out, "%s\n", safeMessage(e.Err.Error()))
		}
		if len(errs) == 0 {
			// The file as a whole was refused ("File check failed: …").
			code := -1
			var ce *cmdb.Error
			if errors.As(err, &ce) {
				code = ce.Code
			}
			return &cmdb.Error{Msg: safeMessage(err.Error()), Code: code}
		}
		return &cmdb.Error{Msg: "Restore config file failed: configuration unchanged", Code: -1}
	}
	sh.Session.Reset()
	fmt.Fprintf(out, "File check OK.\n")
	return nil
}

const maxShownErrors = 5

// ErrNoUSB is the answer when the appliance has no data directory (and so
// no USB disk).
var errNoUSB = &cmdb.Error{Msg: "USB disk is not available.", Code: -1}

// checkUSBName accepts a plain file name only: no directory, no "." or
// "..", no NUL or other control character, nothing the host's file system
// would read as a path.
func checkUSBName(name string) error {
	ok := name != "" && name != "." && name != ".." && len(name) <= 255 && utf8.ValidString(name) &&
		!strings.ContainsAny(name, `/\`) && !strings.ContainsFunc(name, unicode.IsControl) &&
		!strings.HasPrefix(name, tmpPrefix)
	if !ok {
		return &cmdb.Error{Msg: "invalid file name: give a plain file name on the USB disk, without a path\nvalue parse error before '" + escapedExcerpt(name, 40) + "'", Code: cmdb.CodeValue}
	}
	return nil
}

// openUSB checks name and opens the USB folder (created on first use) as a
// root nothing can leave. The folder itself may not be a symlink leading
// out of the data directory.
func (sh *Shell) openUSB(name string) (*os.Root, error) {
	if err := checkUSBName(name); err != nil {
		return nil, err
	}
	if sh.App.DataDir == "" {
		return nil, errNoUSB
	}
	data, err := os.OpenRoot(sh.App.DataDir)
	if err != nil {
		return nil, errNoUSB
	}
	defer data.Close()
	if err := data.Mkdir(usbFolder, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, errNoUSB
	}
	usb, err := data.OpenRoot(usbFolder)
	if err != nil {
		return nil, errNoUSB
	}
	return usb, nil
}

// regularOrMissing refuses a name that exists as anything but a regular
// file: a symlink (even one that stays inside), a directory, a device, a
// FIFO, a file with a second hard link (which may be outside the folder).
func regularOrMissing(usb *os.Root, name string) (exists bool, err error) {
	fi, err := usb.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, &cmdb.Error{Msg: "Cannot access file on USB disk.", Code: -1}
	}
	if !fi.Mode().IsRegular() || hardLinked(fi) {
		return true, &cmdb.Error{Msg: "Not a regular file on USB disk.", Code: -1}
	}
	return true, nil
}

const tmpPrefix = ".fosim-tmp-"

// writeUSBFile replaces name atomically: a temporary file, synced, renamed
// over it (a rename replaces the directory entry and never follows it).
func writeUSBFile(usb *os.Root, name string, data []byte) error {
	if _, err := regularOrMissing(usb, name); err != nil {
		return err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := tmpPrefix + hex.EncodeToString(rnd[:])
	fail := &cmdb.Error{Msg: "Write config file to usb disk failed.", Code: -1}
	f, err := usb.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = usb.Rename(tmp, name)
	}
	if werr != nil {
		usb.Remove(tmp)
		return fail
	}
	return nil
}

// readUSBFile reads a regular file of at most maxConfigFile bytes.
// O_NONBLOCK keeps a FIFO swapped in after the check from blocking the
// open; the opened file is checked again.
func readUSBFile(usb *os.Root, name string) ([]byte, error) {
	exists, err := regularOrMissing(usb, name)
	if err != nil {
		return nil, err
	}
	notFound := &cmdb.Error{Msg: "File not found on USB disk.", Code: cmdb.CodeNotFound}
	if !exists {
		return nil, notFound
	}
	f, err := usb.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, notFound
	}
	defer f.Close()
	// Checked again on the file opened, in case the name changed since.
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || hardLinked(fi) {
		return nil, &cmdb.Error{Msg: "Not a regular file on USB disk.", Code: -1}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, &cmdb.Error{Msg: "Read config file from usb disk failed.", Code: -1}
	}
	if len(data) > maxConfigFile {
		return nil, &cmdb.Error{Msg: fmt.Sprintf("Config file is larger than %d MB.", maxConfigFile>>20), Code: -1}
	}
	return data, nil
}

func hardLinked(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}

// escapedExcerpt is what an error may quote of input it did not write.
func escapedExcerpt(s string, max int) string { return grammar.ExcerptN(s, max) }

// safeMessage shows an error about untrusted input: the part it quotes
// ('…', the statement at fault) as a 40-byte excerpt, the rest with
// non-printables escaped except line breaks, all of it short.
func safeMessage(msg string) string {
	const quoted, outside = 40, 120
	i, j := strings.IndexByte(msg, '\''), strings.LastIndexByte(msg, '\'')
	if i < 0 || j <= i {
		return escapeOutside(msg, outside)
	}
	return escapeOutside(msg[:i+1], outside) + escapedExcerpt(msg[i+1:j], quoted) + escapeOutside(msg[j:], outside)
}

func escapeOutside(s string, max int) string {
	lines := strings.Split(s, "\n")
	for k, l := range lines {
		lines[k] = escapedExcerpt(l, max)
	}
	return strings.Join(lines, "\n")
}
