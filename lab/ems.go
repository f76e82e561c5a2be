package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fosim/fosim/clock"
	"github.com/fosim/fosim/daemons/fcnacd/fcnacdapi"
	"github.com/fosim/fosim/peers/ems"
)

// EMSFile, when a lab folder has it, is a peers/ems lab file: the lab
// runs a FortiClient EMS (fosim's EMS peer) with it beside the appliance,
// on a free port of 127.0.0.1 that config.conf names as ${EMS_PORT}.
const EMSFile = "ems.json"

// emsPort is replaced in config.conf by the lab EMS's port.
const emsPort = "${EMS_PORT}"

// emsPeer is a lab's EMS: its store in a temporary directory, serving
// HTTPS on loopback.
type emsPeer struct {
	srv    *ems.Server
	dir    string
	port   int
	server *http.Server
	cancel context.CancelFunc
}

// startEMS starts the EMS of the lab in labDir, if it has one.
func startEMS(labDir string) (*emsPeer, error) {
	b, err := os.ReadFile(filepath.Join(labDir, EMSFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := &emsPeer{}
	if p.dir, err = os.MkdirTemp("", "fosim-lab-ems-"); err != nil {
		return nil, err
	}
	fail := func(err error) (*emsPeer, error) {
		p.close()
		return nil, fmt.Errorf("%s: %w", filepath.Join(labDir, EMSFile), err)
	}
	if err := seedStore(p.dir, b, ems.Open, ems.ParseLabFile); err != nil {
		return fail(err)
	}
	srv, err := ems.NewServer(p.dir, clock.New(time.UTC))
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	p.srv = srv
	var ctx context.Context
	ctx, p.cancel = context.WithCancel(context.Background())
	go srv.Run(ctx)
	// The appliance's first attempts meet a certificate it does not trust
	// yet: http.Server would log each refused handshake.
	p.server = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go p.server.Serve(tls.NewListener(srv.Listener(ln), srv.TLSConfig()))
	return p, nil
}

// config puts the EMS's port in a lab configuration.
func (p *emsPeer) config(text string) string {
	if p == nil {
		return text
	}
	return strings.ReplaceAll(text, emsPort, strconv.Itoa(p.port))
}

func (p *emsPeer) close() {
	if p == nil {
		return
	}
	if p.cancel != nil {
		p.cancel()
	}
	if p.server != nil {
		p.server.Close()
	}
	os.RemoveAll(p.dir)
}

// emsAction is "! ems down|up|slow DURATION|wait|settle|token uid=UID [as=NAME]|register uid=UID ip=IP …|tunnels".
func (r *runner) emsAction(words []string) (string, error) {
	p := r.ems
	if p == nil {
		return "", fmt.Errorf("! ems: the lab has no %s", EMSFile)
	}
	if len(words) == 1 && (words[0] == "wait" || words[0] == "settle") {
		return r.waitEMS(words[0] == "wait"), nil
	}
	if len(words) >= 1 && words[0] == "token" {
		return r.emsToken(context.Background(), words[1:])
	}
	if len(words) >= 1 && words[0] == "register" {
		return r.emsRegister(context.Background(), words[1:])
	}
	if len(words) == 1 && words[0] == "tunnels" {
		return r.emsTunnels(), nil
	}
	cfg, err := ems.Open(p.dir)
	if err != nil {
		return "", err
	}
	switch {
	case len(words) == 1 && (words[0] == "down" || words[0] == "up"):
		cfg.Down = words[0] == "down"
	case len(words) == 2 && words[0] == "slow":
		d, err := time.ParseDuration(words[1])
		if err != nil || d < 0 {
			return "", fmt.Errorf("! ems slow: bad duration %q", words[1])
		}
		cfg.Delay = ems.Duration(d)
	default:
		return "", fmt.Errorf("! ems down|up|slow DURATION|wait|settle|token uid=UID [as=NAME]|register uid=UID ip=IP …|tunnels")
	}
	if err := cfg.Save(p.dir); err != nil {
		return "", err
	}
	// The EMS reads its store again within 200 ms; the lab waits for it so
	// that the next step sees the change.
	time.Sleep(400 * time.Millisecond)
	return "", nil
}

// waitEMS waits, boundedly, until every enabled EMS entry is connected
// (connected), or has at least tried (!connected: "settle"); it prints the
// entries that are not connected, each with the reason.
func (r *runner) waitEMS(connected bool) string {
	deadline := time.Now().Add(15 * time.Second)
	for {
		var notUp []string
		done := true
		for _, e := range r.app.fcnacd.EMSs() {
			switch {
			case e.State == fcnacdapi.StateDisabled || e.State == fcnacdapi.StateConnected:
			case e.State == fcnacdapi.StateConnecting || connected:
				done = false
				fallthrough
			default:
				notUp = append(notUp, fmt.Sprintf("EMS %d (%s): %s: %s\n", e.ID, e.Name, e.State, e.LastError))
			}
		}
		if done || time.Now().After(deadline) {
			return strings.Join(notUp, "")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
