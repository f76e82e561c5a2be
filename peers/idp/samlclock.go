package idp

import (
	"time"

	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/fosim/fosim/clock"
)

// samlClock is the IdP's clock as crewjam/saml and goxmldsig read it: the
// AuthnRequest's IssueInstant window, the assertion's times and
// certificate validity follow the clock a lab moves, as the sessions do
// (a lab that moves the appliance's clock moves the IdP's with it).
func samlClock(c *clock.Clock) *dsig.Clock {
	return dsig.NewFakeClock(clockworkClock{Clock: clockwork.NewRealClock(), c: c})
}

// SetMessageClock makes the times of SAML messages (a request's age, an
// assertion's validity, certificates') follow c instead of the session
// clock: for an IdP whose service providers keep real time while a lab
// moves its sessions' clock (third-party SPs in tests). Call it before
// serving.
func (s *Server) SetMessageClock(c *clock.Clock) { s.samlClock = samlClock(c) }

// clockworkClock answers Now from the appliance-style clock; timers and
// sleeps (which neither library uses for SAML times) stay real.
type clockworkClock struct {
	clockwork.Clock
	c *clock.Clock
}

func (k clockworkClock) Now() time.Time                  { return k.c.Now() }
func (k clockworkClock) Since(t time.Time) time.Duration { return k.c.Now().Sub(t) }
func (k clockworkClock) Until(t time.Time) time.Duration { return t.Sub(k.c.Now()) }
