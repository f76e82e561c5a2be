package listen

import (
	"context"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
)

// Pool is one service's TCP listeners, keyed by address, as its
// configuration moves them: Set binds what is new through the registry,
// closes what is no longer wanted and keeps the rest (with their
// connections). sshd, httpsd and authd each hold one.
type Pool struct {
	Registry *Registry
	Route    Route
	// Serve runs, in its own goroutine, for each listener bound, with the
	// label the address was wanted with; it returns when the listener
	// closes.
	Serve func(ln net.Listener, label string)

	mu       sync.Mutex
	serving  map[netip.AddrPort]*pooled
	failures []error // of the last Set
	wg       sync.WaitGroup
}

type pooled struct {
	ln    net.Listener
	label string
}

// Check tells whether every address of want that the pool does not hold
// yet could be bound now (a Validate before the commit that would Set
// it), else which address cannot, with its label, and why.
func (p *Pool) Check(want map[netip.AddrPort]string) (addr netip.AddrPort, label string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ap := range sortedAddrs(want) {
		if l := p.serving[ap]; l != nil && l.label == want[ap] {
			continue
		}
		if err := p.Registry.CanRoute(ap, p.Route); err != nil {
			return ap, want[ap], err
		}
	}
	return netip.AddrPort{}, "", nil
}

// Set moves the pool to want (address → label; a listener whose label
// changed is bound again) and returns what could not be bound.
func (p *Pool) Set(want map[netip.AddrPort]string) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.serving == nil {
		p.serving = map[netip.AddrPort]*pooled{}
	}
	for ap, l := range p.serving {
		if label, ok := want[ap]; !ok || label != l.label {
			l.ln.Close()
			delete(p.serving, ap)
		}
	}
	p.failures = nil
	for _, ap := range sortedAddrs(want) {
		if p.serving[ap] != nil {
			continue
		}
		ln, err := p.Registry.TCP(ap, p.Route)
		if err != nil {
			p.failures = append(p.failures, err)
			continue
		}
		l := &pooled{ln: ln, label: want[ap]}
		p.serving[ap] = l
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.Serve(l.ln, l.label)
		}()
	}
	return slices.Clone(p.failures)
}

// Addrs are the addresses the pool listens on now, sorted. A nil pool
// (a service never started) has none, as it has no failures.
func (p *Pool) Addrs() []netip.AddrPort {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return sortedAddrs(p.serving)
}

// Failures are what the last Set could not bind, and why.
func (p *Pool) Failures() []error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.failures)
}

// Close closes every listener (not the connections they gave).
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for ap, l := range p.serving {
		l.ln.Close()
		delete(p.serving, ap)
	}
}

// Wait waits for every Serve to return, or for ctx.
func (p *Pool) Wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func sortedAddrs[V any](m map[netip.AddrPort]V) []netip.AddrPort {
	return slices.SortedFunc(maps.Keys(m), netip.AddrPort.Compare)
}
