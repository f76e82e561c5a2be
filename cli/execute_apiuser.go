package cli

import (
	"crypto/rand"
	"fmt"
	"io"
	"math/big"

	"github.com/fosim/fosim/cmdb"
)

func init() {
	commands = append(commands,
		&command{path: "execute api-user generate-key", help: "Generate a new API key for an API user.", args: "<API user name>", minArgs: 1, maxArgs: 2, run: executeAPIUserGenerateKey, writes: true},
	)
}

// apiKeyLength and apiKeyAlphabet: FortiOS's keys are 30 letters and
// digits.
const (
	apiKeyLength   = 30
	apiKeyAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// newAPIKey draws a key from crypto/rand, each character uniform.
func newAPIKey() string {
	out := make([]byte, apiKeyLength)
	for i := range out {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(apiKeyAlphabet))))
		out[i] = apiKeyAlphabet[n.Int64()]
	}
	return string(out)
}

// executeAPIUserGenerateKey sets a new random api-key on an API user, in
// a session of the admin (the access profile applies), and prints it:
// this is the only time it is shown in clear.
func executeAPIUserGenerateKey(sh *Shell, args []string, out io.Writer) error {
	if len(args) == 2 {
		return notSimulated("API key expiry (execute api-user generate-key <name> <expiry>)")
	}
	name := args[0]
	sess := sh.App.Store.NewSession(sh.Session.User, "cli")
	t, err := sess.OpenTable("system api-user")
	if err != nil {
		return err
	}
	e, err := t.Edit(name)
	if err != nil {
		return err
	}
	if e.Created() {
		return &cmdb.Error{Msg: "entry not found in datasource", Code: cmdb.CodeNotFound}
	}
	key := newAPIKey()
	if err := e.Set("api-key", cmdb.Words(key)); err != nil {
		return err
	}
	if err := e.Save(); err != nil {
		return err
	}
	fmt.Fprintf(out, "New API key: %s\n", key)
	fmt.Fprintf(out, "NOTE: The bearer of this API key will be granted all access privileges assigned to the api-user %s.\n", name)
	return nil
}
