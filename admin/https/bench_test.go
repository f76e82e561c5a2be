package https

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fosim/fosim/admin/control"
	"github.com/fosim/fosim/admin/sshd"
	"github.com/fosim/fosim/cli"
	"github.com/fosim/fosim/cmdb"
	"github.com/fosim/fosim/cmdb/cmdbtest"
	"github.com/fosim/fosim/daemons"
	"github.com/fosim/fosim/daemons/listen"
)

// benchAppliance is a store with fsync on, HTTPS on 127.0.0.1 (through
// the service, real TLS) and an API token.
type benchAppliance struct {
	st    *cmdb.Store
	app   *cli.Appliance
	dir   string
	base  string // https://127.0.0.1:port
	token string
	http  *http.Client
}

func startBenchAppliance(b *testing.B) *benchAppliance {
	b.Helper()
	dir := b.TempDir()
	st := cmdbtest.StoreIn(b, dir, cmdb.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmdbtest.Apply(b, st, "config system global\nset admin-sport "+strconv.Itoa(port)+"\nend\n"+
		"config system interface\nedit port1\nset mode static\nset ip 127.0.0.1/8\nset allowaccess ping https ssh\nnext\nend\n"+
		"config system admin\nedit admin\nset password "+testPassword+"\nnext\nend\n"+
		"config system api-user\nedit bench\nset accprofile super_admin\nnext\nend\n")
	app := cli.NewAppliance(st)
	token := generateKey(b, app, "admin", "bench")
	svc := &Service{Server: &Server{App: app}, Registry: &listen.Registry{}, Map: &listen.Map{}}
	sup := daemons.NewSupervisor(&daemons.Runtime{Store: st, Clock: app.Clock, Debug: app.Debug}, svc)
	if err := sup.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sup.Stop(5 * time.Second) })
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	b.Cleanup(c.CloseIdleConnections)
	return &benchAppliance{st: st, app: app, dir: dir, base: "https://127.0.0.1:" + strconv.Itoa(port), token: token, http: c}
}

func (a *benchAppliance) request(b *testing.B, method, path string, body []byte) []byte {
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.http.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("%s %s: %d %v %.300s", method, path, resp.StatusCode, err, raw)
	}
	return raw
}

const netmikoCreate = `
import sys, time
from netmiko import ConnectHandler
host, port, password, count, fast = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5] == "fast"
prefix = "sshf" if fast else "ssh"
t0 = time.monotonic()
c = ConnectHandler(device_type="fortinet", host=host, port=port, username="admin", password=password, fast_cli=fast)
t1 = time.monotonic()
lines = ["config firewall address"]
for i in range(count):
    lines += ["edit %s_%d" % (prefix, i), "set subnet 10.%d.%d.0 255.255.255.0" % (i // 256, i % 256), "next"]
lines.append("end")
out = c.send_config_set(lines)
t2 = time.monotonic()
c.disconnect()
if "Command fail" in out:
    sys.exit("netmiko: " + out[-500:])
print("%f %f" % (t1 - t0, t2 - t1))
`

// BenchmarkCreate500 creates the same 500 firewall addresses by the REST
// API (one POST each, one commit each) and by netmiko over SSH (one
// send_config_set of 1,502 lines, one commit per "next"), in one run, on
// one store with fsync on.
//
//	go test ./admin/https -run '^$' -bench Create500 -benchtime 1x
func BenchmarkCreate500(b *testing.B) {
	const count = 500
	a := startBenchAppliance(b)
	for n := 0; n < b.N; n++ {
		a.request(b, "GET", "/api/v2/monitor/system/status", nil) // the TLS handshake, as a client's login
		start := time.Now()
		for i := 0; i < count; i++ {
			body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("rest_%d_%d", n, i), "subnet": fmt.Sprintf("10.%d.%d.0 255.255.255.0", i/256, i%256)})
			a.request(b, "POST", "/api/v2/cmdb/firewall/address", body)
		}
		rest := time.Since(start)
		b.ReportMetric(rest.Seconds(), "rest-s")
		b.ReportMetric(count/rest.Seconds(), "rest-objects/s")

		if bin, err := exec.LookPath("ansible-playbook"); err != nil {
			b.Logf("!!!!!!!! no ansible-playbook (apt-get install ansible): no Ansible figure")
		} else {
			n := ansibleCount
			start := time.Now()
			a.ansibleCreate(b, bin, n)
			d := time.Since(start)
			// per object: a 500-item run takes ten minutes of this machine
			b.ReportMetric(d.Seconds()/float64(n), "ansible-s/object")
			b.ReportMetric(d.Seconds()/float64(n)/(rest.Seconds()/count), "ansible/rest-per-object")
		}
		if _, err := exec.Command(systemPython, "-c", "import netmiko").CombinedOutput(); err != nil {
			b.Logf("!!!!!!!! no netmiko (apt-get install python3-netmiko): REST figures only")
			continue
		}
		srv := &sshd.Server{App: a.app, DataDir: a.dir, Logf: func(string, ...any) {}}
		if err := srv.Listen("127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go srv.Serve(ctx)
		host, port, _ := net.SplitHostPort(srv.Addr().String())
		script := filepath.Join(b.TempDir(), "create.py")
		os.WriteFile(script, []byte(netmikoCreate), 0o600)
		// netmiko paces its lines (50 ms each by default); fast_cli
		// shortens that, so the second run shows what the SSH path costs
		for _, mode := range []string{"default", "fast"} {
			start = time.Now()
			out, err := exec.Command(systemPython, script, host, port, testPassword, strconv.Itoa(count), mode).CombinedOutput()
			total := time.Since(start)
			if err != nil {
				b.Fatalf("netmiko: %v\n%s", err, out)
			}
			var login, create float64
			fmt.Sscanf(string(out), "%f %f", &login, &create)
			name := "ssh"
			if mode == "fast" {
				name = "sshf"
			}
			if a.st.Lookup("firewall address", fmt.Sprintf("%s_%d", name, count-1)) == nil {
				b.Fatalf("netmiko's last address (%s) is not stored", mode)
			}
			b.ReportMetric(create, "netmiko-"+mode+"-s")
			b.ReportMetric(total.Seconds(), "netmiko-"+mode+"-with-login-s")
			b.ReportMetric(create/rest.Seconds(), "netmiko-"+mode+"/rest")
		}
		cancel()
		srv.Close()
		// the next iteration's netmiko names would exist: one round only
		break
	}
}

// ansibleCount is how many addresses the Ansible playbook creates (one
// task, a loop; about a second each, Ansible's module start-up):
// FOSIM_BENCH_ANSIBLE=500 for the whole 500.
var ansibleCount = func() int {
	if n, err := strconv.Atoi(os.Getenv("FOSIM_BENCH_ANSIBLE")); err == nil && n > 0 {
		return n
	}
	return 50
}()

// ansibleCreate runs one playbook that creates n addresses in a loop
// (ansible_0 …) over the token, and checks the last one landed.
func (a *benchAppliance) ansibleCreate(b *testing.B, bin string, n int) {
	dir := b.TempDir()
	port := strings.TrimPrefix(a.base, "https://127.0.0.1:")
	os.WriteFile(filepath.Join(dir, "hosts"), []byte("[fgt]\nfosim ansible_host=127.0.0.1\n\n[fgt:vars]\n"+
		"ansible_connection=httpapi\nansible_network_os=fortinet.fortios.fortios\n"+
		"ansible_httpapi_use_ssl=yes\nansible_httpapi_validate_certs=no\nansible_httpapi_port="+port+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "create.yml"), []byte(`
- hosts: fosim
  gather_facts: false
  tasks:
    - fortinet.fortios.fortios_firewall_address:
        access_token: "{{ token }}"
        vdom: root
        state: present
        firewall_address:
          name: "ansible_{{ item }}"
          subnet: "10.{{ item // 256 }}.{{ item % 256 }}.0 255.255.255.0"
      loop: "{{ range(`+strconv.Itoa(n)+`) | list }}"
`), 0o600)
	cmd := exec.Command(bin, "-i", "hosts", "create.yml", "-e", "token="+a.token)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR="+filepath.Join(dir, "pc"))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ansible-playbook: %v\n%.2000s", err, out)
	}
	if a.st.Lookup("firewall address", "ansible_"+strconv.Itoa(n-1)) == nil {
		b.Fatal("Ansible's last address is not stored")
	}
}

// systemPython is Debian's interpreter, which sees python3-netmiko.
const systemPython = "/usr/bin/python3"

// BenchmarkGet10000 reads a 10,000-entry firewall address table whole:
// one REST GET over TLS against "fosim show firewall address" through
// the appliance's control socket (the binary, started for each run).
//
//	go test ./admin/https -run '^$' -bench Get10000 -benchtime 3x
func BenchmarkGet10000(b *testing.B) {
	const count = 10000
	a := startBenchAppliance(b)
	var script strings.Builder
	script.WriteString("config firewall address\n")
	for i := 0; i < count; i++ {
		fmt.Fprintf(&script, "edit big_%d\nset subnet 10.%d.%d.0 255.255.255.0\nnext\n", i, i/256%256, i%256)
	}
	script.WriteString("end\n")
	if res := cmdb.RunScript(a.st.NewSystemSession("bench", "bench"), script.String(), cmdb.ScriptOptions{Atomic: true}); len(res.Errors) > 0 {
		b.Fatal(res.Errors[0])
	}
	bin := filepath.Join(b.TempDir(), "fosim")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/fosim/fosim/cmd/fosim").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	ctl := &control.Server{App: a.app, UID: os.Getuid()}
	if err := ctl.Listen(a.dir); err != nil {
		b.Fatal(err)
	}
	go ctl.Serve()
	defer ctl.Close()
	a.request(b, "GET", "/api/v2/monitor/system/status", nil)
	var restTotal, showTotal time.Duration
	for n := 0; n < b.N; n++ {
		start := time.Now()
		raw := a.request(b, "GET", "/api/v2/cmdb/firewall/address", nil)
		restTotal += time.Since(start)
		var m struct{ Results []json.RawMessage }
		if err := json.Unmarshal(raw, &m); err != nil || len(m.Results) < count {
			b.Fatalf("GET: %d results, %v", len(m.Results), err)
		}
		start = time.Now()
		out, err := exec.Command(bin, "--data", a.dir, "show", "firewall", "address").Output()
		showTotal += time.Since(start)
		if err != nil || bytes.Count(out, []byte("\n    edit ")) < count {
			b.Fatalf("fosim show: %v, %d bytes", err, len(out))
		}
		b.ReportMetric(float64(len(raw))/1e6, "rest-MB")
		b.ReportMetric(float64(len(out))/1e6, "show-MB")
	}
	b.ReportMetric(restTotal.Seconds()/float64(b.N), "rest-s/op")
	b.ReportMetric(showTotal.Seconds()/float64(b.N), "show-s/op")
	b.ReportMetric(restTotal.Seconds()/showTotal.Seconds(), "rest/show")
}
