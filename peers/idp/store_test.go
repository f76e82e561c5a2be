package idp

import "testing"

// Deleting removes the one entry named (realms by name in any case) and
// refuses a name that is not there.
func TestDeleteNamed(t *testing.T) {
	c := &Config{
		Users:  []User{{Name: "alice"}, {Name: "bob"}},
		Admins: []Admin{{Name: "admin"}},
		Realms: []Realm{{Name: "Corp"}, {Name: "lab"}},
	}
	if err := c.DeleteUser("alice"); err != nil || len(c.Users) != 1 || c.Users[0].Name != "bob" {
		t.Fatalf("DeleteUser: %v %+v", err, c.Users)
	}
	if err := c.DeleteRealm("corp"); err != nil || len(c.Realms) != 1 || c.Realms[0].Name != "lab" {
		t.Fatalf("DeleteRealm: %v %+v", err, c.Realms)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{c.DeleteUser("alice"), `no user "alice"`},
		{c.DeleteAdmin("root"), `no administrator "root"`},
		{c.DeleteRealm("corp"), `no realm "corp"`},
		{c.DeleteServiceProvider("fgt"), `no service provider "fgt"`},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("got %v, want %s", tc.err, tc.want)
		}
	}
	if err := c.DeleteAdmin("admin"); err != nil || len(c.Admins) != 0 {
		t.Fatalf("DeleteAdmin: %v %+v", err, c.Admins)
	}
}
