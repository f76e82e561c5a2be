package sshd

import (
	"net"
	"net/netip"
	"sync"
)

// admission hands out connection slots so that one abusive address (or a
// few) cannot hold them all: every connection takes one of maxConns slots;
// an unauthenticated one also counts against its source address (at most
// perSource at once) and against maxPreAuth. When the slots are full, a
// newcomer from an address with fewer unauthenticated connections than the
// busiest address takes the oldest of that address's slots: a real admin
// from a quiet address always gets in, an attacker reopening connections
// only displaces itself. Logged-in sessions are never displaced.
type admission struct {
	maxConns, maxPreAuth, perSource int

	mu    sync.Mutex
	total int
	npre  int
	pre   map[netip.Addr][]*ticket // unauthenticated, oldest first
	seq   uint64
}

// ticket is one admitted connection.
type ticket struct {
	src      netip.Addr
	conn     net.Conn
	pre      bool // not logged in yet
	released bool // its slot was given back (or taken by a newcomer)
	seq      uint64
}

// verdict says why a connection was or was not admitted.
type verdict int

const (
	admitted verdict = iota
	admittedDisplacing
	refusedPerSource
	refusedFull
)

func newAdmission(maxConns, maxPreAuth, perSource int) *admission {
	return &admission{maxConns: maxConns, maxPreAuth: maxPreAuth, perSource: perSource, pre: map[netip.Addr][]*ticket{}}
}

// admit gives c a slot, or says why not; displaced is the connection whose
// slot c took (the caller closes it).
func (a *admission) admit(c net.Conn, src netip.Addr) (t *ticket, displaced net.Conn, v verdict) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mine := len(a.pre[src])
	if mine >= a.perSource {
		return nil, nil, refusedPerSource
	}
	v = admitted
	if a.total >= a.maxConns || a.npre >= a.maxPreAuth {
		// The busiest address gives up its oldest slot; among equally
		// busy ones, the one holding the oldest slot (a spray of
		// addresses with one connection each displaces its own oldest,
		// not the admin who just connected).
		busiest, n := netip.Addr{}, 0
		for s, ts := range a.pre {
			if len(ts) > n || len(ts) == n && ts[0].seq < a.pre[busiest][0].seq {
				busiest, n = s, len(ts)
			}
		}
		if n <= mine {
			return nil, nil, refusedFull
		}
		old := a.pre[busiest][0]
		a.dropPre(old)
		old.released = true
		a.total--
		displaced, v = old.conn, admittedDisplacing
	}
	a.seq++
	t = &ticket{src: src, conn: c, pre: true, seq: a.seq}
	a.pre[src] = append(a.pre[src], t)
	a.npre++
	a.total++
	return t, displaced, v
}

// loggedIn moves t out of the unauthenticated slots.
func (a *admission) loggedIn(t *ticket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.pre && !t.released {
		a.dropPre(t)
	}
}

// release gives t's slot back.
func (a *admission) release(t *ticket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.released {
		return
	}
	if t.pre {
		a.dropPre(t)
	}
	t.released = true
	a.total--
}

// dropPre removes t from the unauthenticated slots; called with a.mu held.
func (a *admission) dropPre(t *ticket) {
	ts := a.pre[t.src]
	for i, x := range ts {
		if x == t {
			ts = append(ts[:i:i], ts[i+1:]...)
			break
		}
	}
	if len(ts) == 0 {
		delete(a.pre, t.src)
	} else {
		a.pre[t.src] = ts
	}
	t.pre = false
	a.npre--
}

// counts reports the slots in use (for tests and the log).
func (a *admission) counts() (total, preAuth int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total, a.npre
}
