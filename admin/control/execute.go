package control

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/grammar"
)

// Execute runs a host command on app's store with a system session of
// admin: the one implementation behind both paths, the host command that
// opened the store itself and the running appliance answering its socket.
func Execute(app *cli.Appliance, req Request) Response {
	var out, errs bytes.Buffer
	resp := Response{}
	switch req.Command {
	case "apply":
		resp.Code = apply(app.Store, req, &out, &errs)
	case "show", "get":
		resp.Code = show(app, req, &out)
	case "backup":
		resp.File = []byte(app.Store.Backup("admin"))
	case "restore":
		resp.Code = restore(app.Store, req, &out, &errs)
	default:
		fmt.Fprintf(&errs, "fosim: unknown host command %q\n", req.Command)
		resp.Code = 2
	}
	resp.Stdout, resp.Stderr = out.Bytes(), errs.Bytes()
	return resp
}

func apply(st *cmdb.Store, req Request, stdout, stderr io.Writer) int {
	name := req.InputName
	// The configuration before the script stays in the revision list.
	if _, err := st.SaveConfigRevision("admin", "Automatically backed up before fosim apply"); err != nil {
		fmt.Fprintln(stderr, "fosim:", err)
		return 1
	}
	sess := st.NewSystemSession("admin", "apply "+name)
	res := cmdb.RunScript(sess, string(req.Input), cmdb.ScriptOptions{Lenient: req.Lenient, Atomic: !req.Continue})
	io.WriteString(stdout, res.Output.String())
	printErrors(stderr, name, res.Errors)
	if len(res.Verbatim) > 0 {
		fmt.Fprintf(stderr, "%s: skipped %d config block(s) for tables fosim does not model (apply keeps nothing verbatim; use restore --lenient)\n", name, len(res.Verbatim))
	}
	if len(res.Errors) > 0 {
		if req.Continue {
			fmt.Fprintf(stderr, "%s: %d error(s); kept the %d change(s) of the statements that succeeded\n", name, len(res.Errors), res.Committed)
		} else {
			fmt.Fprintf(stderr, "%s: %d error(s); nothing committed (--continue runs the statements that succeed)\n", name, len(res.Errors))
		}
		return 1
	}
	return 0
}

func restore(st *cmdb.Store, req Request, stdout, stderr io.Writer) int {
	res, err := st.Restore(string(req.Input), "admin", req.Lenient)
	printErrors(stderr, req.InputName, res.Errors)
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

// show runs "show …" or "get …" in a shell, as an admin would type it.
func show(app *cli.Appliance, req Request, stdout io.Writer) int {
	words := []string{req.Command}
	if req.Full {
		words = append(words, "full-configuration")
	}
	for _, p := range req.Paths {
		words = append(words, grammar.Quote(p))
	}
	sess := app.Store.NewSystemSession("admin", req.Command)
	var out strings.Builder
	sh := cli.New(app, sess, &out)
	sh.Line(strings.Join(words, " "))
	sh.Close()
	io.WriteString(stdout, out.String())
	if strings.Contains(out.String(), "Command fail. Return code") {
		return 1
	}
	return 0
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
