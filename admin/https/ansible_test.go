package https

import (
	"context"
	"encoding/json"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/iked"
	"github.com/fosim/fosim/daemons/iked/client"
	"github.com/fosim/fosim/daemons/iked/suite"
	"github.com/fosim/fosim/daemons/listen"
	"github.com/fosim/fosim/internal/peertest"
)

// requireAnsible finds Debian's ansible-playbook with the fortinet.fortios
// collection it ships.
func requireAnsible(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("ansible-playbook")
	if err != nil {
		peertest.Missing(t, "ansible-playbook is not installed (apt-get install ansible)")
	}
	out, err := exec.Command("ansible-doc", "-t", "httpapi", "-l").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "fortinet.fortios.fortios") {
		peertest.Missing(t, "ansible has no fortinet.fortios collection: %v %s", err, out)
	}
	return bin
}

// ansibleRun is ansible-playbook against one fosim, its inventory in a
// temporary folder.
type ansibleRun struct {
	bin, dir, inventory string
}

// newAnsibleRun writes an inventory of fosim on 127.0.0.1:port over
// httpapi, with hostVars ("key=value" lines) added.
func newAnsibleRun(t *testing.T, bin string, port int, hostVars ...string) *ansibleRun {
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts")
	text := "[fgt]\nfosim ansible_host=127.0.0.1\n\n[fgt:vars]\n" +
		"ansible_connection=httpapi\nansible_network_os=fortinet.fortios.fortios\n" +
		"ansible_httpapi_use_ssl=yes\nansible_httpapi_validate_certs=no\nansible_httpapi_port=" + strconv.Itoa(port) + "\n"
	for _, v := range hostVars {
		text += v + "\n"
	}
	if err := os.WriteFile(inv, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return &ansibleRun{bin: bin, dir: dir, inventory: inv}
}

// play runs testdata/<playbook> with vars as extra vars and returns the
// recap's changed count; any failed task fails the test.
func (a *ansibleRun) play(t *testing.T, playbook string, vars map[string]any, extra ...string) (changed int, output string) {
	t.Helper()
	book, err := filepath.Abs(filepath.Join("testdata", playbook))
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(vars)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-i", a.inventory, book, "-e", string(j)}, extra...)
	cmd := exec.Command(a.bin, args...)
	cmd.Dir = a.dir
	cmd.Env = append(os.Environ(), "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1",
		// Debian's Python modules are seen by /usr/bin/python3 only
		"ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(a.dir, "tmp"), "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR="+filepath.Join(a.dir, "pc"))
	b, err := cmd.CombinedOutput()
	m := recapLine.FindStringSubmatch(string(b))
	if err != nil || m == nil || m[4] != "0" {
		t.Fatalf("ansible-playbook %s %s: %v\n%s", playbook, strings.Join(extra, " "), err, b)
	}
	n, _ := strconv.Atoi(m[2])
	return n, string(b)
}

var recapLine = regexp.MustCompile(`fosim\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// names turns names into the [{name: …}] lists Ansible's modules take.
func names(list ...string) []map[string]string {
	out := []map[string]string{}
	for _, n := range list {
		out = append(out, map[string]string{"name": n})
	}
	return out
}

// ansibleTables are the tables the playbooks write, with the entries they
// make.
var ansibleTables = map[string][]string{
	"firewall address":            {"ans_web", "ans_db"},
	"firewall addrgrp":            {"ans_servers"},
	"firewall schedule recurring": {"ans_workdays"},
	"firewall policy":             {"100"},
	"vpn ipsec phase1-interface":  {"ans_dial"},
	"vpn ipsec phase2-interface":  {"ans_dial_p2"},
	"user local":                  {"ans_alice", "ans_bob"},
	"user saml":                   {"ans_idp"},
	"user group":                  {"ans_staff"},
	"system accprofile":           {"ans_readonly"},
	"system sso-admin":            {"ans_sso"},
}

// Debian's Ansible (fortinet.fortios 2.3.0, httpapi over HTTPS with an
// API token) creates, changes and deletes addresses, a group (and one of
// its members by a member operation), a schedule, a policy, a dial-up
// phase1 and its phase2, local users, a SAML server, a user group of
// them, an access profile and an SSO admin on fosim, and reads them back
// with fortios_configuration_fact (secrets as "ENC XXXX"); its
// fortios_monitor_fact reads system/status and vpn/ipsec, where a tunnel
// fosim's own IKEv2 client dialled to the phase1 Ansible made is listed.
// A second run changes nothing (secrets sent again in clear included);
// check mode stores nothing, neither for changes nor for deletes.
func TestAnsibleFortiOSCollection(t *testing.T) {
	bin := requireAnsible(t)
	st := cmdbtest.Store(t)
	port := freeTCPPort(t)
	cmdbtest.Apply(t, st, "config system global\nset admin-sport "+strconv.Itoa(port)+"\nend\n"+
		"config system interface\nedit port1\nset mode static\nset ip 127.0.0.1/8\nset allowaccess ping https\nnext\nend\n"+
		"config system api-user\nedit ansible\nset accprofile super_admin\nset vdom root\nnext\nend\n")
	app := cli.NewAppliance(st)
	token := generateKey(t, app, "admin", "ansible")
	ike := iked.New(iked.Options{Addr: "127.0.0.1", Port: freeUDPPort(t), NATTPort: freeUDPPort(t)})
	svc := &Service{Server: &Server{App: app, VPN: ike}, Registry: &listen.Registry{}, Map: &listen.Map{}}
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: app.Clock, Debug: app.Debug}, ike, svc)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	ans := newAnsibleRun(t, bin, port)

	first := map[string]any{
		"comment": "first", "policy_action": "accept", "srcaddr": names("ans_servers"), "schedule": "always",
		"status": "enable", "fwgrp": "read", "members": names("ans_alice", "ans_bob", "ans_idp"), "tunnels": 0,
		"token": token,
	}
	with := func(changes map[string]any) map[string]any {
		m := maps.Clone(first)
		maps.Copy(m, changes)
		return m
	}
	start := time.Now()
	// 15 writes, and the member operation finds its member there
	if n, o := ans.play(t, "ansible_present.yml", with(nil)); n != 14 {
		t.Fatalf("first run: changed=%d, want 14\n%s", n, o)
	}
	t.Logf("first run: %v", time.Since(start))
	for table, want := range map[string][]string{
		"firewall address":            {`edit "ans_web"`, `set subnet 10.10.0.0 255.255.255.0`, `set comment "first"`, `set start-ip 10.20.0.1`},
		"firewall policy":             {"set action accept", `set srcaddr "ans_servers"`, `set logtraffic all`, `set comments "first"`},
		"firewall schedule recurring": {`set day monday tuesday wednesday thursday friday`, `set start 08:00`, `set end 18:30`},
		"vpn ipsec phase1-interface":  {"set psksecret ENC ", "set type dynamic", "set dhgrp 19"},
		"vpn ipsec phase2-interface":  {`set phase1name "ans_dial"`, "set proposal aes128-sha256 aes256gcm", "set pfs disable", "set keylifeseconds 3600", "set src-subnet 10.10.0.0 255.255.255.0"},
		"user local":                  {`edit "ans_alice"`, "set passwd ENC ", `set email-to "alice@example.com"`, `edit "ans_bob"`},
		"user saml":                   {`set idp-entity-id "https://idp.example.com/saml/metadata"`, `set user-name "username"`, `set group-name "first-groups"`},
		"user group":                  {`set member "ans_alice" "ans_bob" "ans_idp"`},
		"system accprofile":           {`edit "ans_readonly"`, "set fwgrp read", "set vpngrp read"},
		"system sso-admin":            {`set accprofile "ans_readonly"`, `set vdom "root"`},
		"system global":               {`set hostname "ans-first"`},
	} {
		got := showAll(t, st, table)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Fatalf("after the first run, no %q in %s:\n%s", w, table, got)
			}
		}
	}
	// the passwords Ansible gave are the ones stored
	for user, pw := range map[string]string{"ans_alice": "alice-Secret-1", "ans_bob": "bob-Secret-2"} {
		e := st.Lookup("user local", user)
		if e == nil || !sameSecret(st.Schema().Table("user local").Attr("passwd"), e.Values["passwd"], []string{pw}, st.Secrets()) {
			t.Fatalf("%s: passwd %v is not %q", user, e, pw)
		}
	}

	// a tunnel to the phase1 Ansible made, dialled by fosim's own client
	ikeSuite, _ := suite.ParseIKE("aes128-sha256")
	ikeSuite.DHGroup = 19
	espSuite, _ := suite.ParseESP("aes128-sha256")
	if len(ike.Addrs()) == 0 {
		t.Fatal("iked listens nowhere")
	}
	dialCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tun, err := client.Dial(dialCtx, client.Config{Server: ike.Addrs()[0], PSK: []byte("ansible-psk-secret"), IKE: ikeSuite, ESP: espSuite,
		Local: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatalf("dialling ans_dial: %v", err)
	}
	defer tun.Close()

	// the same run again changes nothing, and the monitor lists the tunnel
	rev := st.Revision()
	if n, o := ans.play(t, "ansible_present.yml", with(map[string]any{"tunnels": 1})); n != 0 {
		t.Fatalf("second run: changed=%d, want 0\n%s", n, o)
	}
	if st.Revision() != rev {
		t.Fatalf("second run committed: revision %d -> %d", rev, st.Revision())
	}
	deleteCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tun.Delete(deleteCtx); err != nil {
		t.Fatalf("deleting the tunnel: %v", err)
	}

	// a change: comments, the hostname, the policy's action, sources and
	// schedule, a user disabled, two members less, the profile's firewall
	// access
	second := map[string]any{
		"comment": "second", "policy_action": "deny", "srcaddr": names("ans_web", "ans_db"), "schedule": "ans_workdays",
		"status": "disable", "fwgrp": "read-write", "members": names("ans_bob"), "tunnels": -1,
	}
	if n, o := ans.play(t, "ansible_present.yml", with(second)); n != 9 {
		t.Fatalf("change: changed=%d, want 9\n%s", n, o)
	}
	for table, want := range map[string][]string{
		// deny is the default action: show leaves it out
		"firewall policy":            {`set srcaddr "ans_web" "ans_db"`, `set schedule "ans_workdays"`, `set comments "second"`},
		"vpn ipsec phase1-interface": {`set comments "second"`},
		"vpn ipsec phase2-interface": {`set comments "second"`},
		"user local":                 {"set status disable"},
		"user saml":                  {`set group-name "second-groups"`},
		"user group":                 {`set member "ans_bob"`},
		"system accprofile":          {"set fwgrp read-write"},
		"system global":              {`set hostname "ans-second"`},
	} {
		got := showAll(t, st, table)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Fatalf("after the change, no %q in %s:\n%s", w, table, got)
			}
		}
	}
	if got := showAll(t, st, "firewall policy"); strings.Contains(got, "set action accept") {
		t.Fatalf("the policy still accepts:\n%s", got)
	}

	// check mode sees the differences and stores nothing, for changes and
	// for deletes. It sees more than the 8 changes it checks (system
	// global has no check mode, and is skipped): the collection
	// compares what a GET answers with what it would send, and a GET
	// answers "ENC XXXX" for ans_bob's passwd (as a FortiGate does), and
	// it compares every member of ans_servers with the first one it
	// would send. The member operations are left out: the collection
	// would make them in check mode too.
	rev = st.Revision()
	if n, o := ans.play(t, "ansible_check.yml", with(nil), "--check"); n != 8+2+13 {
		t.Fatalf("check mode: changed=%d, want 23 (8 changes, ans_bob's passwd, ans_servers' members, 13 deletes)\n%s", n, o)
	}
	if st.Revision() != rev {
		t.Fatalf("check mode committed: revision %d -> %d", rev, st.Revision())
	}

	// a member removed by a member operation, then everything
	if n, o := ans.play(t, "ansible_absent.yml", with(nil)); n != 14 {
		t.Fatalf("delete: changed=%d, want 14\n%s", n, o)
	}
	st.Read(func(v cmdb.View) {
		for table, keys := range ansibleTables {
			for _, k := range keys {
				if v.Entry(table, k) != nil {
					t.Errorf("%s %s left after the deletes", table, k)
				}
			}
		}
	})
}

// freeUDPPort is a UDP port on 127.0.0.1 nothing holds now.
func freeUDPPort(t *testing.T) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func showAll(t *testing.T, st *cmdb.Store, table string) string {
	var b strings.Builder
	tb := st.Schema().Table(table)
	st.Read(func(v cmdb.View) { cmdb.WriteTable(&b, tb, v.Table(table), false) })
	return b.String()
}

// Without a token, Ansible logs in with the admin's password: its
// /api/v2/authentication try gets 401, it falls back to /logincheck, and
// its writes carry the ccsrftoken it was given; monitor
// system/current-admins lists its session as the caller's own.
func TestAnsiblePasswordLogin(t *testing.T) {
	bin := requireAnsible(t)
	st := cmdbtest.Store(t)
	port := freeTCPPort(t)
	cmdbtest.Apply(t, st, "config system global\nset admin-sport "+strconv.Itoa(port)+"\nend\n"+
		"config system interface\nedit port1\nset mode static\nset ip 127.0.0.1/8\nset allowaccess ping https\nnext\nend\n"+
		"config system admin\nedit admin\nset password "+testPassword+"\nnext\nend\n")
	app := cli.NewAppliance(st)
	svc := &Service{Server: &Server{App: app}, Registry: &listen.Registry{}, Map: &listen.Map{}}
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: app.Clock, Debug: app.Debug}, svc)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)
	ans := newAnsibleRun(t, bin, port, "ansible_user=admin", "ansible_password="+testPassword)
	if n, o := ans.play(t, "ansible_password.yml", map[string]any{}); n != 1 {
		t.Fatalf("ansible-playbook with a password: changed=%d, want 1\n%s", n, o)
	}
	e := st.Lookup("firewall address", "ans_pw")
	if e == nil || strings.Join(e.Values["comment"], " ") != "by password" {
		t.Fatalf("ans_pw: %v", e)
	}
}
