package https

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/fosim/fosim/cmdb"
)

// reply is FortiOS's JSON envelope: the request's method, what it
// addressed, the unit's serial, version and build, and either results or
// an error code.
type reply struct {
	srv    *Server
	method string
	path   string // "firewall", "vpn.ipsec"
	name   string // "address", "phase1-interface"
	mkey   any    // on writes and single-entry errors
	action string
}

// fosimVersion and fosimBuild are what FortiOS 7.6.1 reports.
const (
	fosimVersion = "v7.6.1"
	fosimBuild   = 3462
)

// revisionString is the configuration revision a reply carries. FortiOS
// sends a digest of its configuration; fosim's revisions are its commit
// numbers, which change exactly when FortiOS's would.
func revisionString(rev uint64) string { return strconv.FormatUint(rev, 10) }

func (r *reply) head() object { return object{{"http_method", r.method}} }

func (r *reply) tail(o *object, status int) {
	o.add("vdom", "root")
	if r.path != "" {
		o.add("path", r.path)
		o.add("name", r.name)
	}
	if r.mkey != nil {
		o.add("mkey", r.mkey)
	}
	if r.action != "" {
		o.add("action", r.action)
	}
	if status == http.StatusOK {
		o.add("status", "success")
	} else {
		o.add("status", "error")
	}
	o.add("http_status", status)
	o.add("serial", r.srv.App.Store.Serial())
	o.add("version", fosimVersion)
	o.add("build", fosimBuild)
}

// results answers a successful GET.
func (r *reply) results(w http.ResponseWriter, rev uint64, results any, extra ...member) {
	o := r.head()
	o = append(o, extra...)
	o.add("revision", revisionString(rev))
	o.add("results", results)
	r.tail(&o, http.StatusOK)
	writeJSON(w, http.StatusOK, o)
}

// written answers a successful write with its mkey and whether the
// configuration changed (Ansible's "changed" is revision_changed).
func (r *reply) written(w http.ResponseWriter, before, after uint64) {
	o := r.head()
	o.add("revision", revisionString(after))
	o.add("revision_changed", before != after)
	o.add("old_revision", revisionString(before))
	r.tail(&o, http.StatusOK)
	writeJSON(w, http.StatusOK, o)
}

// fail answers an error: a *cmdb.Error keeps its FortiOS return code
// (error) and its CLI text (cli_error), as FortiOS's REST API returns
// them. A status of 0 follows the code (404 for -3, 403 for -14, else
// 500).
func (r *reply) fail(w http.ResponseWriter, status int, err error) {
	o := r.head()
	var ce *cmdb.Error
	if errors.As(err, &ce) {
		if status == 0 {
			status = statusOf(ce.Code)
		}
		o.add("error", ce.Code)
		o.add("cli_error", ce.Msg+"\nCommand fail. Return code "+strconv.Itoa(ce.Code))
	} else if err != nil {
		if status == 0 {
			status = http.StatusInternalServerError
		}
		o.add("cli_error", err.Error())
	}
	r.tail(&o, status)
	writeJSON(w, status, o)
}

// statusOf maps FortiOS's return codes to the HTTP status its REST API
// answers with.
func statusOf(code int) int {
	switch code {
	case cmdb.CodeNotFound:
		return http.StatusNotFound
	case cmdb.CodePermission:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := indentJSON(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
