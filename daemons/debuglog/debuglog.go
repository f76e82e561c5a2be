// Package debuglog is the appliance's debug stream: daemons log through it
// with their FortiOS prefixes ("ike V=root:0:dialup_0:155: …") and every CLI
// session that ran "diagnose debug enable" with the daemon's application
// level set ("diagnose debug application ike -1") receives the lines, with
// the appliance clock's timestamp when "diagnose debug console timestamp
// enable" is on.
package debuglog

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Hub delivers debug lines to the sessions that asked for them.
type Hub struct {
	now func() time.Time

	mu       sync.Mutex
	sessions []*Session
}

// New returns a hub stamping lines with now.
func New(now func() time.Time) *Hub { return &Hub{now: now} }

// Session is one CLI session's debug settings and output.
type Session struct {
	hub *Hub
	out io.Writer

	mu        sync.Mutex
	enabled   bool
	timestamp bool
	levels    map[string]int // application → level (0: off)
}

// Attach registers a CLI session writing to out; Detach it when it ends.
func (h *Hub) Attach(out io.Writer) *Session {
	s := &Session{hub: h, out: out, levels: map[string]int{}}
	h.mu.Lock()
	h.sessions = append(h.sessions, s)
	h.mu.Unlock()
	return s
}

// Detach stops delivering to s.
func (s *Session) Detach() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if i := slices.Index(h.sessions, s); i >= 0 {
		h.sessions = slices.Delete(h.sessions, i, i+1)
	}
}

// Enable turns the session's debug output on or off ("diagnose debug
// enable|disable").
func (s *Session) Enable(on bool) {
	s.mu.Lock()
	s.enabled = on
	s.mu.Unlock()
}

// Timestamp turns the timestamp prefix on or off.
func (s *Session) Timestamp(on bool) {
	s.mu.Lock()
	s.timestamp = on
	s.mu.Unlock()
}

// SetLevel sets an application's level ("diagnose debug application ike
// -1"); 0 turns it off.
func (s *Session) SetLevel(app string, level int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if level == 0 {
		delete(s.levels, app)
		return
	}
	s.levels[app] = level
}

// Reset clears every application level ("diagnose debug reset").
func (s *Session) Reset() {
	s.mu.Lock()
	s.levels = map[string]int{}
	s.mu.Unlock()
}

// Info is the state "diagnose debug info" prints.
type Info struct {
	Enabled, Timestamp bool
	Levels             map[string]int
}

// Info returns the session's settings.
func (s *Session) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	lv := make(map[string]int, len(s.levels))
	for k, v := range s.levels {
		lv[k] = v
	}
	return Info{Enabled: s.enabled, Timestamp: s.timestamp, Levels: lv}
}

// wants tells whether a line of app at level goes to s. FortiOS levels are
// bit masks with -1 for everything; a line of level 1 goes to any level set.
func (s *Session) wants(app string, level int) bool {
	if !s.enabled {
		return false
	}
	l, ok := s.levels[app]
	if !ok {
		return false
	}
	return l == -1 || l&level != 0 || level <= 1
}

// Logger logs for one application ("ike", "authd", "samld").
type Logger struct {
	hub *Hub
	app string
}

// Logger returns the logger of an application.
func (h *Hub) Logger(app string) *Logger { return &Logger{hub: h, app: app} }

// Enabled tells whether any session would receive a line of this level, so
// that callers can skip building expensive lines.
func (l *Logger) Enabled(level int) bool {
	h := l.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		s.mu.Lock()
		ok := s.wants(l.app, level)
		s.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// Printf delivers one line (the prefix is the caller's: "ike V=root:0: …").
func (l *Logger) Printf(level int, format string, args ...any) {
	h := l.hub
	h.mu.Lock()
	targets := slices.Clone(h.sessions)
	h.mu.Unlock()
	var line string
	for _, s := range targets {
		s.mu.Lock()
		ok, ts := s.wants(l.app, level), s.timestamp
		s.mu.Unlock()
		if !ok {
			continue
		}
		if line == "" {
			line = fmt.Sprintf(format, args...)
			if len(line) == 0 || line[len(line)-1] != '\n' {
				line += "\n"
			}
		}
		out := line
		if ts {
			out = h.now().Format("2006-01-02 15:04:05.000000") + " " + line
		}
		io.WriteString(s.out, out)
	}
}
