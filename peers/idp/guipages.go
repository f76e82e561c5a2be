package idp

import "html/template"

// adminStyle adds the administration pages' tables and forms to style.
const adminStyle = style + `
main.wide{max-width:72em;width:calc(100% - 3em);box-sizing:border-box;margin:1.5em auto}
nav{background:#374151;padding:0 1.5em;display:flex;gap:.2em;align-items:center}
nav a{color:#e5e7eb;text-decoration:none;padding:.6em .9em;display:inline-block}
nav a.on{background:#f3f4f6;color:#111827;border-radius:4px 4px 0 0}
nav form{margin-left:auto}nav button{margin:0;padding:.3em .9em;background:#6b7280}
h2{font-size:1.1em;margin:1.6em 0 .4em;border-bottom:1px solid #e5e7eb;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;font-size:.93em}
th,td{text-align:left;padding:.45em .6em;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f9fafb;font-weight:600}
td form{display:inline;margin:0}td button{margin:0 .3em 0 0;padding:.25em .8em;font-size:.9em}
button.danger{background:#dc2626}
.grid{display:grid;grid-template-columns:16em 1fr;gap:.5em 1em;align-items:center}
.grid label{margin:0}.grid .hint{grid-column:2}
select,textarea,.grid input[type=text],.grid input[type=password],.grid input[type=number]{width:100%;box-sizing:border-box;padding:.4em;border:1px solid #9ca3af;border-radius:4px;font-size:.95em}
textarea{font-family:monospace;height:7em}
code{font-size:.9em;background:#f3f4f6;padding:0 .2em;word-break:break-all}
.inline{display:flex;gap:.6em;align-items:end;flex-wrap:wrap}.inline label{margin:0}.inline input[type=text]{width:14em}
.checks label{display:inline;font-weight:normal;margin-right:1em}
.muted{color:#6b7280}.grid+table{margin-top:1em}`

var adminLoginTmpl = template.Must(template.New("admin-login").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Administrator login</title><style>` + adminStyle + `</style></head><body>
<header>FortiAuthenticator (fosim) · administration</header>
<main>
<h1>Administrator login</h1>
{{if .NoAdmin}}<p class="error">No administrator account is set. On the IdP host run <code>fosim idp --data DIR admin set NAME</code> (DIR: its data directory).</p>{{end}}
{{if .Error}}<p class="error" id="error">{{.Error}}</p>{{end}}
<form method="post" action="/admin/login">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="next" value="{{.Next}}">
<label for="username">Administrator</label><input type="text" id="username" name="username" autocomplete="username" autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password">
<input type="submit" value="Login">
</form>
</main></body></html>
`))

// adminPage is one administration page in the common layout; content
// defines its "content" template.
func adminPage(nav, content string) *template.Template {
	t := template.Must(template.New("layout").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · FortiAuthenticator (fosim)</title><style>` + adminStyle + `</style></head><body>
<header>FortiAuthenticator (fosim) · SAML IdP administration</header>
<nav>
<a href="/admin/general"` + on(nav, "general") + `>General</a>
<a href="/admin/sps"` + on(nav, "sps") + `>Service providers</a>
<a href="/admin/users"` + on(nav, "users") + `>Users and groups</a>
<a href="/admin/sessions"` + on(nav, "sessions") + `>SAML IdP sessions</a>
<form method="post" action="/admin/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Log out {{.Admin}}</button></form>
</nav>
<main class="wide">
<h1>{{.Title}}</h1>
{{with .Flash}}{{if .Error}}<p class="error" id="error">{{.Error}}</p>{{end}}{{if .OK}}<p class="ok" id="ok">{{.OK}}</p>{{end}}{{end}}
{{template "content" .}}
</main></body></html>
`))
	return template.Must(t.Parse(content))
}

func on(nav, page string) string {
	if nav == page {
		return ` class="on"`
	}
	return ""
}

var generalTmpl = adminPage("general", `{{define "content"}}
<form method="post" action="/admin/general">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<div class="grid">
<label for="server_address">Server address</label><input type="text" id="server_address" name="server_address" value="{{.Config.ServerAddress}}" placeholder="the Host the browser asks for">
<p class="hint">The IdP URLs are http://&lt;server address&gt;/saml-idp/&lt;prefix&gt;/metadata/, …/login/, …/logout/.</p>
<label for="username_format">Username input format</label>
<select id="username_format" name="username_format">{{range .Formats}}<option{{if eq . $.Format}} selected{{end}}>{{.}}</option>{{end}}</select>
<label for="timeout">Login session timeout (minutes)</label><input type="number" id="timeout" name="timeout" min="{{.Min}}" max="{{.Max}}" value="{{.Config.SessionTimeoutMinutes}}">
<p class="hint">{{.Min}} to {{.Max}}; 480 (eight hours) by default.</p>
<label for="default_certificate">Default IdP certificate</label>
<select id="default_certificate" name="default_certificate">{{range .Certificates}}<option{{if eq . $.DefaultCert}} selected{{end}}>{{.}}</option>{{end}}</select>
<label for="force_authn">ForceAuthn="true" inside a session</label>
<select id="force_authn" name="force_authn"><option value="reuse"{{if not .Config.HonourForceAuthn}} selected{{end}}>reuse the session (as FortiAuthenticator)</option><option value="honour"{{if .Config.HonourForceAuthn}} selected{{end}}>prompt again</option></select>
</div>
<input type="submit" id="save-general" value="OK">
</form>

<h2>Realms</h2>
<p class="muted">The first realm is the default one, used when a user types no realm. Groups filter who may log in to a realm.</p>
<table><tr><th>Realm</th><th>Groups (filter)</th><th></th></tr>
{{range .Config.Realms}}<tr><td>{{.Name}}</td><td>{{range .Groups}}{{.}} {{else}}<span class="muted">all users</span>{{end}}</td>
<td><form method="post" action="/admin/realms/delete"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="name" value="{{.Name}}"><button class="danger" type="submit">Delete</button></form></td></tr>
{{else}}<tr><td colspan="3" class="muted">None: every local user, realm "local".</td></tr>{{end}}
</table>
<form method="post" action="/admin/realms" class="inline">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label>Realm <input type="text" name="name" id="realm_name"></label>
<span class="checks">{{range .Config.Groups}}<label><input type="checkbox" name="groups" value="{{.}}"> {{.}}</label>{{end}}</span>
<button type="submit">Add a realm</button>
</form>

<h2>Trusted subnets</h2>
<p class="muted">Service providers with the FortiToken bypass ask no token code of users from these subnets.</p>
<table><tr><th>Subnet</th><th></th></tr>
{{range .Config.TrustedSubnets}}<tr><td>{{.}}</td><td><form method="post" action="/admin/subnets"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="prefix" value="{{.}}"><input type="hidden" name="action" value="delete"><button class="danger" type="submit">Delete</button></form></td></tr>
{{else}}<tr><td colspan="2" class="muted">None.</td></tr>{{end}}
</table>
<form method="post" action="/admin/subnets" class="inline"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label>Subnet <input type="text" name="prefix" placeholder="10.1.0.0/16"></label><button type="submit">Add</button></form>

<h2>IdP certificates</h2>
<table><tr><th>Certificate</th><th></th></tr>
{{range .Certificates}}<tr><td>{{.}}{{if eq . $.DefaultCert}} <span class="muted">(default)</span>{{end}}</td><td><a href="/admin/certificates/{{.}}.pem">Download</a></td></tr>{{end}}
</table>
<form method="post" action="/admin/certificates" class="inline"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label>Name <input type="text" name="name"></label><button type="submit">Generate a certificate</button></form>
{{end}}`)

var spsTmpl = adminPage("sps", `{{define "content"}}
<p><a href="/admin/sps/edit" id="create-sp">Create New</a></p>
<table><tr><th>SP name</th><th>IdP prefix</th><th>SP entity id</th><th>IdP entity id</th><th>Authentication</th><th>Status</th><th></th></tr>
{{range .SPs}}<tr><td><a href="/admin/sps/edit?name={{.Name}}">{{.Name}}</a></td><td>{{.Prefix}}</td><td><code>{{.EntityID}}</code></td><td><code>{{.URLs.EntityID}}</code></td>
<td>{{.Method}}{{if .RequireSignedRequests}}, signed requests{{end}}</td><td>{{if .Disabled}}disabled{{else}}enabled{{end}}</td>
<td><form method="post" action="/admin/sps/delete"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="name" value="{{.Name}}"><button class="danger" type="submit">Delete</button></form></td></tr>
{{else}}<tr><td colspan="7" class="muted">No service provider yet.</td></tr>{{end}}
</table>
{{end}}`)

var spTmpl = adminPage("sps", `{{define "content"}}
<form method="post" action="/admin/sps/save">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<div class="grid">
<label for="sp_metadata">Import SP metadata</label><textarea id="sp_metadata" name="sp_metadata" placeholder="&lt;md:EntityDescriptor …&gt; (optional)"></textarea>
<p class="hint">The SP's SAML metadata, pasted: it fills the SP entity id, ACS and SLS URLs, SP certificate and signing requirement below.</p>
<label for="name">SP name</label><input type="text" id="name" name="name" value="{{.SP.Name}}"{{if .Editing}} readonly{{end}}>
<label for="prefix">IDP prefix</label><input type="text" id="prefix" name="prefix" value="{{.SP.Prefix}}">
<span></span><span class="checks"><label><input type="checkbox" name="generate_prefix" id="generate_prefix"> Generate unique prefix (16 random alphanumerics)</label></span>
<label for="idp_certificate">IDP certificate</label>
<select id="idp_certificate" name="idp_certificate">{{range .Certificates}}<option{{if eq . $.SP.IdPCertificate}} selected{{end}}>{{.}}</option>{{end}}</select>
<label>IDP entity id</label><code>{{.URLs.EntityID}}</code>
<label>IDP single sign-on URL</label><code>{{.URLs.Login}}</code>
<label>IDP single logout URL</label><code>{{.URLs.Logout}}</code>
<label for="entity_id">SP entity id</label><input type="text" id="entity_id" name="entity_id" value="{{.SP.EntityID}}">
<label for="acs_url">SP ACS (login) URL</label><input type="text" id="acs_url" name="acs_url" value="{{.SP.ACSURL}}">
{{range $i, $u := .Alt}}<label>Alternative ACS URL</label><input type="text" name="alt_acs" value="{{$u}}">
{{end}}<label for="sls_url">SP SLS (logout) URL</label><input type="text" id="sls_url" name="sls_url" value="{{.SP.SLSURL}}">
<span></span><span class="checks"><label><input type="checkbox" name="require_signed" id="require_signed"{{if .SP.RequireSignedRequests}} checked{{end}}> SAML request must be signed by SP</label></span>
<label for="sp_certificate">SP certificate (PEM)</label><textarea id="sp_certificate" name="sp_certificate" placeholder="-----BEGIN CERTIFICATE-----">{{.SP.CertificatePEM}}</textarea>
</div>
<h2>Authentication</h2>
<div class="grid">
<label for="auth_method">Authentication method</label>
<select id="auth_method" name="auth_method">{{range .Methods}}<option value="{{.Value}}"{{if eq .Value $.Method}} selected{{end}}>{{.Label}}</option>{{end}}</select>
<span></span><span class="checks"><label><input type="checkbox" name="bypass"{{if .SP.TrustedSubnetBypass}} checked{{end}}> Bypass FortiToken authentication when user is from a trusted subnet</label></span>
</div>
<h2>Debugging options</h2>
<div class="checks">
<label><input type="checkbox" name="no_auto_return"{{if .SP.NoAutoReturn}} checked{{end}}> Do not return to service provider automatically after successful authentication, wait for user input</label><br>
<label><input type="checkbox" name="disabled"{{if .SP.Disabled}} checked{{end}}> Disable this service provider</label>
</div>
<h2>Assertion attributes</h2>
<div class="grid">
<label for="nameid_field">Subject NameID</label>
<select id="nameid_field" name="nameid_field">{{range .Fields}}<option{{if eq . $.SP.NameIDField}} selected{{end}}>{{.}}</option>{{end}}</select>
<p class="hint">A user without it gets the username.</p>
<label for="nameid_format">Format</label>
<select id="nameid_format" name="nameid_format"><option{{if eq .SP.NameIDFormat "unspecified"}} selected{{end}}>unspecified</option><option{{if eq .SP.NameIDFormat "transient"}} selected{{end}}>transient</option><option{{if eq .SP.NameIDFormat "persistent"}} selected{{end}}>persistent</option></select>
</div>
<table><tr><th>SAML attribute name</th><th>User attribute</th></tr>
{{range .Attrs}}<tr><td><input type="text" name="attr_name" value="{{.Name}}"></td><td><select name="attr_field">{{$f := .Field}}{{range $.Fields}}<option{{if eq . $f}} selected{{end}}>{{.}}</option>{{end}}</select></td></tr>
{{end}}</table>
<input type="submit" id="save-sp" value="OK">
</form>
{{end}}`)

var usersTmpl = adminPage("users", `{{define "content"}}
<table><tr><th>User</th><th>Email</th><th>First name</th><th>Last name</th><th>Groups</th><th>Password</th><th>FortiToken</th><th></th></tr>
{{range .Users}}<tr><td>{{.Name}}</td><td>{{.Email}}</td><td>{{.FirstName}}</td><td>{{.LastName}}</td><td>{{range .Groups}}{{.}} {{end}}</td>
<td>{{if .PasswordHash}}set{{else}}<span class="muted">none</span>{{end}}</td><td>{{if .TOTPSecret}}TOTP{{else}}<span class="muted">none</span>{{end}}</td>
<td><form method="post" action="/admin/users/token"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="name" value="{{.Name}}"><button type="submit">New token</button></form><form method="post" action="/admin/users/delete"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="name" value="{{.Name}}"><button class="danger" type="submit">Delete</button></form></td></tr>
{{else}}<tr><td colspan="8" class="muted">No user yet.</td></tr>{{end}}
</table>
<h2>Add or replace a user</h2>
<form method="post" action="/admin/users/save">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<div class="grid">
<label for="user_name">Username</label><input type="text" id="user_name" name="name">
<label for="user_password">Password</label><input type="password" id="user_password" name="password" autocomplete="new-password">
<label for="email">Email</label><input type="text" id="email" name="email">
<label for="first_name">First name</label><input type="text" id="first_name" name="first_name">
<label for="last_name">Last name</label><input type="text" id="last_name" name="last_name">
<label>Groups</label><span class="checks">{{range .Groups}}<label><input type="checkbox" name="groups" value="{{.}}"> {{.}}</label>{{else}}<span class="muted">no group yet</span>{{end}}</span>
</div>
<input type="submit" value="Save user">
</form>
<h2>Groups</h2>
<p>{{range .Groups}}<code>{{.}}</code> {{else}}<span class="muted">None.</span>{{end}}</p>
<form method="post" action="/admin/groups" class="inline"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label>Group <input type="text" name="name"></label><button type="submit">Add a group</button></form>
{{end}}`)

var sessionsTmpl = adminPage("sessions", `{{define "content"}}
<p class="muted">IdP clock: {{.Now.Format "2006-01-02 15:04:05"}}</p>
<table id="sessions"><tr><th>User</th><th>SP</th><th>Created</th><th>Expires</th><th></th></tr>
{{range .Sessions}}<tr><td>{{.User}}</td><td>{{.SP}}</td><td>{{.Created.Format "2006-01-02 15:04:05"}}</td><td>{{.Expires.Format "2006-01-02 15:04:05"}}</td>
<td><form method="post" action="/admin/sessions/end"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="id" value="{{.ID}}"><button class="danger" type="submit">End session</button></form></td></tr>
{{else}}<tr><td colspan="5" class="muted">No session.</td></tr>{{end}}
</table>
{{end}}`)
