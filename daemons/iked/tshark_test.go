package iked

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/internal/peertest"
)

// requireTshark skips loudly without Debian's tshark (and root, to
// capture on lo), and fails under FOSIM_REQUIRE_PEERS=1.
func requireTshark(t *testing.T) {
	t.Helper()
	missing := ""
	if _, err := exec.LookPath("tshark"); err != nil {
		missing = "tshark (Debian package tshark)"
	} else if os.Geteuid() != 0 {
		missing = "root (tshark captures on lo)"
	}
	if missing != "" {
		peertest.Missing(t, "%s", "the IKE-over-TCP capture needs "+missing)
	}
}

// iketcpLua splits an RFC 9329 stream into its frames and hands each to
// Wireshark's own isakmp or esp dissector. Debian 12's tshark (4.0) has
// no RFC 8229/9329 dissector of its own: its "tcpencap" is Cisco's
// proprietary IPsec-in-TCP (no length field), which misreads these
// streams.
const iketcpLua = `
local p = Proto("iketcp", "IKE over TCP (RFC 9329)")
local f_len = ProtoField.uint16("iketcp.length", "Length")
p.fields = { f_len }
local isakmp = Dissector.get("isakmp")
local esp = Dissector.get("esp")
function p.dissector(tvb, pinfo, tree)
  local n = tvb:len()
  local offset = 0
  if n >= 6 and tvb(0, 6):string() == "IKETCP" then
    tree:add(p, tvb(0, 6), "Stream prefix: IKETCP")
    offset = 6
  end
  while offset + 2 <= n do
    local len = tvb(offset, 2):uint()
    if len < 2 then return n end
    if offset + len > n then
      pinfo.desegment_offset = offset
      pinfo.desegment_len = offset + len - n
      return n
    end
    local t = tree:add(p, tvb(offset, len))
    t:add(f_len, tvb(offset, 2))
    if len >= 6 and tvb(offset + 2, 4):uint() == 0 then
      isakmp:call(tvb(offset + 6, len - 6):tvb(), pinfo, tree)
    else
      esp:call(tvb(offset + 2, len - 2):tvb(), pinfo, tree)
    end
    offset = offset + len
  end
  if offset < n then
    pinfo.desegment_offset = offset
    pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
  end
  return n
end
DissectorTable.get("tcp.port"):add(tonumber(os.getenv("IKETCP_PORT")), p)
`

// Wireshark's own IKEv2 and ESP dissectors decode a session of fosim's
// client with iked over TCP, captured on loopback: the IKE exchanges
// inside the stream and the ESP packets between them, framed as RFC 9329
// says (the frames split by iketcpLua, an implementation apart from
// fosim's).
func TestTsharkDecodesIKEOverTCP(t *testing.T) {
	requireTshark(t)
	l, at := tcpLab(t, "tcp")
	port := strconv.Itoa(int(at.Port()))
	pcap := filepath.Join(t.TempDir(), "ike-tcp.pcapng")
	capture := exec.Command("tshark", "-n", "-i", "lo", "-f", "tcp port "+port, "-w", pcap)
	stderr, err := capture.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}
	defer capture.Process.Kill()
	// tshark says "Capture started" once dumpcap captures
	ready := make(chan struct{})
	var capLog strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			capLog.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Capture started") {
				close(ready)
				for sc.Scan() {
				}
				return
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatalf("tshark did not start capturing")
	}

	tun, err := dialTCP(t, at, client.TransportTCP)
	if err != nil {
		t.Fatalf("%v\n%s", err, l.log())
	}
	if err := tun.DPD(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := tun.SendESP(make([]byte, 84)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tun.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the last segments reach the capture
	capture.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- capture.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("tshark did not stop")
	}

	lua := filepath.Join(t.TempDir(), "iketcp.lua")
	if err := os.WriteFile(lua, []byte(iketcpLua), 0o644); err != nil {
		t.Fatal(err)
	}
	decode := func(args ...string) ([]byte, error) {
		cmd := exec.Command("tshark", append([]string{"-n", "-X", "lua_script:" + lua, "-r", pcap}, args...)...)
		cmd.Env = append(os.Environ(), "IKETCP_PORT="+port)
		return cmd.Output()
	}
	out, err := decode("-Y", "isakmp || esp", "-T", "fields", "-E", "occurrence=a", "-e", "isakmp.exchangetype", "-e", "esp.spi")
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	var exchanges []string
	esp := 0
	spi := fmt.Sprintf("0x%08x", tun.SPIOut)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		ex, spis, _ := strings.Cut(line, "\t")
		if ex != "" {
			exchanges = append(exchanges, strings.Split(ex, ",")...)
		}
		for _, s := range strings.Split(spis, ",") {
			if s == spi {
				esp++ // the client's packets, to the gateway's inbound SPI
			}
		}
	}
	t.Logf("tshark decoded exchanges %v and %d ESP packets", exchanges, esp)
	// 34 IKE_SA_INIT, 35 IKE_AUTH, 37 INFORMATIONAL: request and response each
	want := "34 34 35 35 37 37 37 37"
	if strings.Join(exchanges, " ") != want || esp != 2 {
		full, _ := decode()
		t.Fatalf("tshark decoded exchanges %v (want %s) and %d ESP packets to SPI %s (want 2):\n%s\ncapture: %s", exchanges, want, esp, spi, full, capLog.String())
	}
	verbose, err := decode("-V")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Exchange type: IKE_SA_INIT (34)", "Exchange type: IKE_AUTH (35)", "Exchange type: INFORMATIONAL (37)", "Version: 2.0", "Encapsulating Security Payload"} {
		if !strings.Contains(string(verbose), name) {
			t.Fatalf("no %q in tshark -V:\n%s", name, verbose)
		}
	}
}
