package iked

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fosim/fosim/internal/peertest"
)

// inNetns runs f on an OS thread that joined the network namespace netns,
// so that the sockets f opens live there; the thread then goes back to its
// own namespace (or, failing that, stays locked and ends with the
// goroutine: the Go runtime may not hand it to other goroutines).
func inNetns(netns string, f func() error) error {
	if netns == "" {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer home.Close()
		target, err := os.Open(netns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", netns, err)
			return
		}
		errc <- f()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// The netns lab: a network namespace of the test's own (held by an
// "unshare -n sleep") with a veth pair: iked on wan0 (192.0.2.1, the
// FortiGate's public address), strongSwan on lan0 (198.51.100.2), and, for
// the NAT tests, a source NAT that maps what strongSwan sends to iked to
// 192.0.2.100, ports 40000-40999, as a home router would. strongSwan may
// install virtual IPs and routes there without touching the machine's own
// network.
const (
	natIked    = "192.0.2.1"
	natClient  = "198.51.100.2"
	natPublic  = "192.0.2.100"
	netnsSetup = "ip link set lo up && ip link add wan0 type veth peer name lan0 && ip addr add 192.0.2.1/24 dev wan0 && ip addr add 192.0.2.100/32 dev wan0 && ip addr add 198.51.100.2/24 dev lan0 && ip link set wan0 up && ip link set lan0 up"
	natNftable = `table ip nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 198.51.100.2 ip daddr 192.0.2.1 udp sport 1-65535 snat to 192.0.2.100:40000-40999
  }
}
`
)

func labNetns(t *testing.T, nat bool) string {
	t.Helper()
	requireCharon(t)
	tools := []string{"nsenter", "ip"}
	if nat {
		tools = append(tools, "nft")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			peertest.Missing(t, "the netns tests need %s; install nftables iproute2 util-linux", tool)
		}
	}
	// the holder says "ready" from inside the new namespace
	holder := exec.Command("unshare", "-n", "sh", "-c", "echo ready; exec sleep 300")
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("unshare -n did not make a network namespace: %q %v", line, err)
	}
	ns := fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
	// no thread of the test process may stay in the lab's namespace
	id, _ := os.Readlink(ns)
	t.Cleanup(func() {
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		for _, task := range tasks {
			if l, _ := os.Readlink(task); l == id {
				t.Errorf("thread %s is still in the lab's namespace %s", task, id)
			}
		}
	})
	setup := netnsSetup
	if nat {
		setup += " && nft -f -"
	}
	cmd := exec.Command("nsenter", "--net="+ns, "sh", "-c", setup)
	cmd.Stdin = strings.NewReader(natNftable)
	if out, err := cmd.CombinedOutput(); err != nil {
		// a kernel without veth (or nftables' NAT) is the machine's limit,
		// not a missing peer: say so loudly and skip, even in CI
		if strings.Contains(string(out), "Unknown device type") || strings.Contains(string(out), "Operation not supported") {
			t.Skipf("SKIPPED LOUDLY: this kernel cannot build the lab network: %s", out)
		}
		t.Fatalf("setting up the lab network: %v\n%s", err, out)
	}
	return ns
}

// NAT-T through a real source NAT: iked sees strongSwan as the NAT's public
// address on a port of the NAT's, detects the peer behind NAT from the NAT_DETECTION
// hashes, strongSwan learns it is behind NAT from iked's and floats to the
// NAT-T port with the non-ESP marker, and iked's delete finds its way back
// through the NAT's mapping.
func TestStrongSwanBehindNAT(t *testing.T) {
	ns := labNetns(t, true)
	l := newLabIn(t, fmt.Sprintf(basePhase1, "aes128-sha256", "19", "aes128-sha256"), true, ns,
		Options{Addr: natIked, Port: 500, NATTPort: 4500})
	var gw Gateway
	out := l.run(swan{ikeProposals: "aes128-sha256-ecp256", espProposals: "aes128-sha256", psk: "s3cret-psk", localAddr: natClient,
		steps: [][]string{
			{"--initiate", "--child", "c1", "--timeout", "10"},
			{"--list-sas"},
			{"@hook", "0"},
			// up to 3 s for iked's delete to cross the NAT
			{"@sh", "for i in $(seq 60); do swanctl --list-sas | grep -q ESTABLISHED || break; sleep 0.05; done"},
			{"--list-sas"},
		},
		hooks: []func(){func() {
			gws := l.d.Gateways()
			if len(gws) != 1 {
				return
			}
			gw = gws[0]
			l.d.Flush("")
		}}})
	lists := strings.Split(out, ">>> swanctl --list-sas")
	if len(lists) != 3 || !strings.Contains(lists[1], "ESTABLISHED") || !strings.Contains(lists[1], "INSTALLED, TUNNEL-in-UDP") {
		t.Fatalf("strongSwan did not establish through the NAT:\n%s\niked:\n%s", out, l.log())
	}
	if !gw.NATPeer || gw.NATMe || gw.Peer.Addr().String() != natPublic || gw.Peer.Port() < 40000 || gw.Peer.Port() > 40999 {
		t.Fatalf("iked's view of the peer: nat me=%v peer=%v from %v", gw.NATMe, gw.NATPeer, gw.Peer)
	}
	if gw.Local.Port() != 4500 {
		t.Fatalf("the tunnel did not float to the NAT-T port: local %v", gw.Local)
	}
	// strongSwan knows itself behind the NAT and talks to port 4500
	if !strings.Contains(lists[1], natIked+"[4500]") || !strings.Contains(lists[1], natClient+"[") {
		t.Fatalf("strongSwan's addresses:\n%s", lists[1])
	}
	if !strings.Contains(l.log(), "udp comes "+natPublic+":") {
		t.Fatalf("debug lines do not show the NATed peer:\n%s", l.log())
	}
	if strings.Contains(lists[2], "ESTABLISHED") {
		t.Fatalf("iked's delete did not reach strongSwan through the NAT:\n%s\niked:\n%s", lists[2], l.log())
	}
}
