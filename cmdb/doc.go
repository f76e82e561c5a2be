// Package cmdb is fosim's configuration database: the schema, typed values
// and their canonical text, editing sessions, the bbolt store, backup and
// restore, and the change sets the daemons receive.
//
// # One path for every change
//
// Every change — the CLI, a pasted script, fosim apply, a restore, the SSH
// exec channel, a REST API — goes through a Session and its structured
// edit API, and is committed by Store.commit. The text path (Session.Exec:
// config / edit / set / next / end) is a thin adapter over the structured
// API; nothing else writes the store.
//
//	sess := st.NewSession(user, "rest")  // access profile of user
//	t, err := sess.OpenTable("firewall address")
//	e, err := t.Edit("web")             // new when absent: e.Created()
//	err = e.Set("subnet", cmdb.Prefix(netip.MustParsePrefix("10.0.0.0/24")))
//	err = e.Set("comment", cmdb.Words("web servers"))
//	err = e.Save()                       // "next": checked, committed
//	err = t.Rename("web", "www")         // references rewritten
//
// # The contract
//
//   - Names are exact: OpenTable takes a table's full path, Set and
//     OpenTable on an entry an attribute's full name. (The text path
//     resolves FortiOS's unique prefixes, "sys glob", before it calls in.)
//   - Values are words (Value, built with Words, Int, Addr, Prefix,
//     Enable), checked and made canonical by Attr.Canon exactly as typed
//     words are; Set(attr, Words("")) empties a single-valued attribute.
//   - Every refusal is an *Error carrying FortiOS's message and return
//     code, the same as the text path prints: -3 not found, -5 duplicate,
//     -14 permission denied, -23 in use, -61 parse error (an unknown table
//     or attribute, or one whose condition does not hold), -651 bad value
//     (a reference to nothing included), -7610 a save check. A validator's
//     error comes back as the validator returned it, a storage failure as
//     a plain error. A failed call changes nothing.
//   - An EntryEdit is a copy. Set, Unset, Append and Unselect change only
//     the copy; Save runs the entry's save checks against the session's
//     view and then commits it (interactive session) or keeps it for the
//     batch's Commit (Session.Batch). Dropping the handle is "abort".
//   - A nested table (EntryEdit.OpenTable) edits its owner's copy: its
//     saves, deletes and moves reach the store when the owner is saved.
//   - TableEdit's Delete, Purge, Rename, Clone and Move take effect at
//     once, as on a FortiGate: committed, or pending in a batch.
//   - Access profiles are checked on every call: reading needs read
//     access to the table's group, every change read-write.
//   - Concurrent sessions: a change made against an entry another session
//     committed since is rebased per attribute at commit (merge.go).
//   - A Session and its handles belong to one goroutine; sessions run in
//     parallel with each other.
//
// # Checks, all in one place
//
// A value is checked when it is set (type, range, option, references
// exist, password policy: the clear text exists only then), an entry when
// it is saved (checkEntry: required attributes, node_check_object checks,
// cross-table checks such as ike-tcp-port against auth-ike-saml-port,
// subnet overlap), so that an admin hears at once and a script drops only
// the entry at fault. The commit then checks the configuration as it will
// be (checkConfig): every entry it leaves changed passes the same save and
// reference checks against the whole result, nothing deleted is still
// named, and the entries of a table that depends on a changed one are
// checked whole (system settings allow-subnet-overlap disable and every
// interface). That is what makes every check hold on every path: a restore,
// whose entries arrive in file order; a batch whose entries were checked
// before a later statement or another session's commit changed what they
// depend on; a concurrent change rebased at commit; a Store.Commit built
// by hand. Validators (the daemons' Validate phase, AddConfigValidator)
// run after, with the change set and the resulting configuration.
//
// # Commits and subscribers
//
// One bbolt transaction per commit; on any error nothing is written and
// the running configuration is unchanged. Subscribers receive change sets
// in revision order, after they are durable. SubscribeFrom hands a new
// subscriber the committed configuration and its revision atomically with
// the subscription: a daemon loading its configuration there misses no
// commit and sees none twice.
package cmdb
