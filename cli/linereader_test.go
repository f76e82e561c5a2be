package cli

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fosim/fosim/cmdb/cmdbtest"
)

// Without a terminal, a quoted value that spans lines (a certificate's
// PEM as "show" prints it) is one statement, as the editor makes it.
func TestReadStatementJoinsQuotedLines(t *testing.T) {
	in := "set remote \"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\"\nnext\n" +
		"set comment one \\\ntwo\n" +
		"set comment \"never closed\nend"
	lr := NewLineReader(strings.NewReader(in))
	want := []string{
		"set remote \"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\"",
		"next",
		"set comment one \\\ntwo",
		"set comment \"never closed\nend",
	}
	for _, w := range want {
		got, err := lr.ReadStatement()
		if err != nil || got != w {
			t.Fatalf("ReadStatement = %q, %v; want %q", got, err, w)
		}
	}
	if _, err := lr.ReadStatement(); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	// A statement over MaxLineBytes is refused whole; the next one runs.
	long := "set comment \"" + strings.Repeat("x\n", MaxLineBytes/2+10) + "\"\nnext\n"
	lr = NewLineReader(strings.NewReader(long))
	var tooLong *ErrInputTooLong
	if _, err := lr.ReadStatement(); !errors.As(err, &tooLong) {
		t.Fatalf("long statement: %v", err)
	}
	if got, err := lr.ReadStatement(); got != "next" || err != nil {
		t.Fatalf("after the long statement: %q %v", got, err)
	}
}

// RunLines stores a pasted multi-line certificate as the terminal does.
func TestRunLinesMultiLineCertificate(t *testing.T) {
	st := cmdbtest.Store(t)
	app := NewAppliance(st)
	pem := strings.TrimSpace(strings.Join(st.Lookup("vpn certificate local", "Fortinet_Factory").Get(st.Schema().Table("vpn certificate local").Attr("certificate")), " "))
	if !strings.Contains(pem, "\n") {
		t.Fatalf("the factory certificate is one line: %q", pem)
	}
	script := "config vpn certificate remote\nedit REMOTE_Cert_1\nset remote \"" + pem + "\"\nnext\nend\n"
	var out strings.Builder
	sh := New(app, st.NewSession("admin", "test"), &out)
	if err := RunLines(sh, NewLineReader(strings.NewReader(script))); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "error") || strings.Contains(out.String(), "unterminated") {
		t.Fatalf("paste: %s", out.String())
	}
	e := st.Lookup("vpn certificate remote", "REMOTE_Cert_1")
	if e == nil || strings.TrimSpace(strings.Join(e.Get(st.Schema().Table("vpn certificate remote").Attr("remote")), " ")) != pem {
		t.Fatalf("stored: %v\n%s", e, out.String())
	}
}
