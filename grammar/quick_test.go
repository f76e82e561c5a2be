package grammar

import (
	"fmt"
	"testing"
)

func TestQuick(t *testing.T) {
	src := `config system setting set ike-tcp-port 20443 <----- Changing ike-tcp-port flushes all existing IPsec tunnels on the VDOM. end
config user saml edit "IKE_SAML" set entity-id "http://<FortiGate FQDN>:20443/remote/saml/metadata/" set idp-entity-id <IDP identifier URL> next end
conf sys glob
  set hostname "a\"b" 'x y'"z"\ q
  sh full
  move 3 before 4
  blah x
  set
#config-version=x
`
	for _, r := range Parse(src) {
		if r.Err != nil {
			fmt.Println("ERR", r.Err)
			continue
		}
		fmt.Printf("%v %s %+v full=%v\n", r.Stmt.Kind, r.Stmt.Pos, r.Stmt.Args, r.Stmt.Full)
	}
}
