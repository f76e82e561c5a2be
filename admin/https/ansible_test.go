package https

import (
	"context"
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
	"github.com/fosim/fosim/daemons/listen"
)

// requireAnsible finds Debian's ansible-playbook with the fortinet.fortios
// collection it ships.
func requireAnsible(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("ansible-playbook")
	if err != nil {
		skipOrFail(t, "ansible-playbook is not installed (apt-get install ansible)")
	}
	out, err := exec.Command("ansible-doc", "-t", "httpapi", "-l").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "fortinet.fortios.fortios") {
		skipOrFail(t, "ansible has no fortinet.fortios collection: %v %s", err, out)
	}
	return bin
}

const ansibleTasks = `
- hosts: fosim
  gather_facts: false
  vars:
    auth: &auth
      access_token: "{{ token }}"
      vdom: root
  tasks:
    - fortinet.fortios.fortios_firewall_address:
        <<: *auth
        state: "{{ state }}"
        firewall_address:
          name: ans_web
          subnet: "10.10.0.0 255.255.255.0"
          comment: "{{ comment }}"
    - fortinet.fortios.fortios_firewall_address:
        <<: *auth
        state: "{{ state }}"
        firewall_address:
          name: ans_db
          type: iprange
          start_ip: 10.20.0.1
          end_ip: 10.20.0.9
    - fortinet.fortios.fortios_vpn_ipsec_phase1_interface:
        <<: *auth
        state: "{{ state }}"
        vpn_ipsec_phase1_interface:
          name: ans_hq
          interface: port1
          ike_version: "2"
          remote_gw: 192.0.2.10
          peertype: any
          proposal: [aes256-sha256]
          psksecret: "ansible-psk-secret"
          comments: "{{ comment }}"
`

const ansibleGroupPolicy = `
    - fortinet.fortios.fortios_firewall_addrgrp:
        <<: *auth
        state: present
        firewall_addrgrp:
          name: ans_servers
          member: [{name: ans_web}, {name: ans_db}]
    - fortinet.fortios.fortios_firewall_addrgrp:
        <<: *auth
        state: present
        member_path: member:name
        member_state: present
        firewall_addrgrp:
          name: ans_servers
          member: [{name: ans_web}]
    - fortinet.fortios.fortios_firewall_policy:
        <<: *auth
        state: present
        firewall_policy:
          policyid: 100
          name: ans_out
          srcintf: [{name: port1}]
          dstintf: [{name: port2}]
          srcaddr: [{name: ans_servers}]
          dstaddr: [{name: all}]
          service: [{name: ALL}]
          schedule: always
          action: "{{ policy_action }}"
    - fortinet.fortios.fortios_configuration_fact:
        <<: *auth
        selector: firewall_address
        params: {name: ans_web}
      check_mode: false
      register: fact
    - assert:
        that:
          - fact.meta.results[0].subnet == "10.10.0.0 255.255.255.0"
          - fact.meta.results[0].comment == comment
      when: not ansible_check_mode
`

const ansibleDeletes = `
    - fortinet.fortios.fortios_firewall_addrgrp:
        <<: *auth
        state: present
        member_path: member:name
        member_state: absent
        firewall_addrgrp:
          name: ans_servers
          member: [{name: ans_db}]
    - fortinet.fortios.fortios_firewall_policy:
        <<: *auth
        state: absent
        firewall_policy: {policyid: 100}
    - fortinet.fortios.fortios_firewall_addrgrp:
        <<: *auth
        state: absent
        firewall_addrgrp: {name: ans_servers}
`

var recapLine = regexp.MustCompile(`fosim\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// Debian's Ansible (fortinet.fortios 2.3.0, httpapi over HTTPS with an
// API token) creates, changes and deletes addresses, a group, a policy and
// a phase1-interface on fosim; a second run changes nothing; check mode
// stores nothing.
func TestAnsibleFortiOSCollection(t *testing.T) {
	bin := requireAnsible(t)
	st := cmdbtest.Store(t)
	port := freeTCPPort(t)
	cmdbtest.Apply(t, st, "config system global\nset admin-sport "+strconv.Itoa(port)+"\nend\n"+
		"config system interface\nedit port1\nset mode static\nset ip 127.0.0.1/8\nset allowaccess ping https\nnext\nend\n"+
		"config system api-user\nedit ansible\nset accprofile super_admin\nset vdom root\nnext\nend\n")
	app := cli.NewAppliance(st)
	token := generateKey(t, app, "admin", "ansible")
	svc := &Service{Server: &Server{App: app}, Registry: &listen.Registry{}, Map: &listen.Map{}}
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: app.Clock, Debug: app.Debug}, svc)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(5 * time.Second)

	dir := t.TempDir()
	inventory := "[fgt]\nfosim ansible_host=127.0.0.1\n\n[fgt:vars]\n" +
		"ansible_connection=httpapi\nansible_network_os=fortinet.fortios.fortios\n" +
		"ansible_httpapi_use_ssl=yes\nansible_httpapi_validate_certs=no\nansible_httpapi_port=" + strconv.Itoa(port) + "\n"
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inv := write("hosts", inventory)
	present := write("present.yml", ansibleTasks+ansibleGroupPolicy)
	// the policy and the group go first: they name the addresses
	absent := write("absent.yml", strings.Replace(ansibleTasks, "  tasks:\n", "  tasks:\n"+strings.TrimPrefix(ansibleDeletes, "\n"), 1))
	run := func(playbook string, extra ...string) (changed int, output string) {
		t.Helper()
		args := append([]string{"-i", inv, playbook, "-e", "token=" + token}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1",
			"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR="+filepath.Join(dir, "pc"))
		b, err := cmd.CombinedOutput()
		m := recapLine.FindStringSubmatch(string(b))
		if err != nil || m == nil || m[4] != "0" {
			t.Fatalf("ansible-playbook %s: %v\n%s", strings.Join(args[2:], " "), err, b)
		}
		n, _ := strconv.Atoi(m[2])
		return n, string(b)
	}
	vars := func(state, comment, action string) []string {
		return []string{"-e", "state=" + state, "-e", "comment=" + comment, "-e", "policy_action=" + action}
	}

	start := time.Now()
	if n, o := run(present, vars("present", "first", "accept")...); n != 5 {
		t.Fatalf("first run: changed=%d, want 5\n%s", n, o)
	}
	t.Logf("first run: %v", time.Since(start))
	for _, want := range []string{`edit "ans_web"`, `set subnet 10.10.0.0 255.255.255.0`, `set comment "first"`, `set start-ip 10.20.0.1`} {
		if got := showAll(t, st, "firewall address"); !strings.Contains(got, want) {
			t.Fatalf("after the first run, no %q in\n%s", want, got)
		}
	}
	if got := showAll(t, st, "firewall policy"); !strings.Contains(got, `set srcaddr "ans_servers"`) {
		t.Fatalf("policy: %s", got)
	}
	if got := showAll(t, st, "vpn ipsec phase1-interface"); !strings.Contains(got, "set psksecret ENC ") || !strings.Contains(got, `set remote-gw 192.0.2.10`) {
		t.Fatalf("phase1: %s", got)
	}
	// the same run again changes nothing
	if n, o := run(present, vars("present", "first", "accept")...); n != 0 {
		t.Fatalf("second run: changed=%d, want 0\n%s", n, o)
	}
	// a change: new comments and action
	if n, o := run(present, vars("present", "second", "deny")...); n != 3 {
		t.Fatalf("change: changed=%d, want 3 (two comments, one action)\n%s", n, o)
	}
	if got := showAll(t, st, "firewall policy"); !strings.Contains(got, "set action deny") && strings.Contains(got, "set action accept") {
		t.Fatalf("policy after the change: %s", got)
	}
	// check mode sees the difference and stores nothing
	rev := st.Revision()
	if n, o := run(present, append(vars("present", "third", "accept"), "--check")...); n == 0 {
		t.Fatalf("check mode saw no change\n%s", o)
	}
	if st.Revision() != rev {
		t.Fatalf("check mode committed: revision %d -> %d", rev, st.Revision())
	}
	// delete everything
	// a member removed by a member operation (DELETE on the sub-table),
	// then everything
	if n, o := run(absent, vars("absent", "x", "accept")...); n != 6 {
		t.Fatalf("delete: changed=%d, want 6\n%s", n, o)
	}
	for _, tbl := range []string{"firewall address", "firewall addrgrp", "firewall policy", "vpn ipsec phase1-interface"} {
		if got := showAll(t, st, tbl); strings.Contains(got, "ans_") || strings.Contains(got, "edit 100") {
			t.Fatalf("left after delete in %s:\n%s", tbl, got)
		}
	}
}

func showAll(t *testing.T, st *cmdb.Store, table string) string {
	var b strings.Builder
	tb := st.Schema().Table(table)
	st.Read(func(v cmdb.View) { cmdb.WriteTable(&b, tb, v.Table(table), false) })
	return b.String()
}

// Without a token, Ansible logs in with the admin's password: its
// /api/v2/authentication try gets 401, it falls back to /logincheck, and
// its writes carry the ccsrftoken it was given.
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
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts")
	os.WriteFile(inv, []byte("[fgt]\nfosim ansible_host=127.0.0.1\n\n[fgt:vars]\n"+
		"ansible_connection=httpapi\nansible_network_os=fortinet.fortios.fortios\n"+
		"ansible_httpapi_use_ssl=yes\nansible_httpapi_validate_certs=no\nansible_httpapi_port="+strconv.Itoa(port)+"\n"+
		"ansible_user=admin\nansible_password="+testPassword+"\n"), 0o600)
	play := filepath.Join(dir, "pw.yml")
	os.WriteFile(play, []byte(`
- hosts: fosim
  gather_facts: false
  tasks:
    - fortinet.fortios.fortios_firewall_address:
        vdom: root
        state: present
        firewall_address: {name: ans_pw, subnet: "10.30.0.0 255.255.0.0", comment: by password}
`), 0o600)
	cmd := exec.Command(bin, "-i", inv, play)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR="+filepath.Join(dir, "pc"))
	out, err := cmd.CombinedOutput()
	m := recapLine.FindStringSubmatch(string(out))
	if err != nil || m == nil || m[2] != "1" || m[4] != "0" {
		t.Fatalf("ansible-playbook with a password: %v\n%s", err, out)
	}
	e := st.Lookup("firewall address", "ans_pw")
	if e == nil || strings.Join(e.Values["comment"], " ") != "by password" {
		t.Fatalf("ans_pw: %v", e)
	}
}
