package cli

import (
	"github.com/fosim/fosim/daemons/iked"
)

// VPN is what the shell asks iked (its query interface): the CLI formats
// the answers itself.
type VPN interface {
	Gateways() []iked.Gateway
	Connecting() []iked.Gateway
	Phase1s() []*iked.Phase1
	Flush(name string) int
}
