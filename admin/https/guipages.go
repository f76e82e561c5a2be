package https

import (
	"bytes"
	"html/template"
	"net/http"
)

// render writes a page, or a plain error when the template fails (a
// half-written page is never sent).
func render(w http.ResponseWriter, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Security-Policy", "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'self'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// pageStyle is shared by the pages: FortiOS's dark header, light body
// and green action button, without its images.
const pageStyle = `<style>
* { box-sizing: border-box; }
body { margin: 0; font-family: "Lato", "Segoe UI", Helvetica, Arial, sans-serif; font-size: 14px; color: #262626; background: #eef0f2; }
header { background: #243140; color: #fff; height: 48px; display: flex; align-items: center; padding: 0 20px; }
header .brand { font-size: 18px; font-weight: bold; letter-spacing: 0.5px; }
header .brand span { color: #da291c; }
header .host { margin-left: 16px; color: #b8c4d0; }
header .who { margin-left: auto; display: flex; align-items: center; gap: 12px; color: #dce3ea; }
button, .button { font: inherit; border: 0; border-radius: 3px; padding: 8px 16px; cursor: pointer; text-decoration: none; display: inline-block; text-align: center; }
.primary { background: #3a8f3a; color: #fff; }
.primary:hover { background: #2f7a2f; }
.secondary { background: #fff; color: #243140; border: 1px solid #aab4be; }
.secondary:hover { background: #f3f5f7; }
header button { background: transparent; color: #fff; border: 1px solid #5b6b7b; padding: 4px 12px; }
.login { width: 360px; margin: 12vh auto 0; background: #fff; border-radius: 4px; box-shadow: 0 2px 10px rgba(0,0,0,0.15); padding: 32px 32px 28px; }
.login h1 { margin: 0 0 4px; font-size: 22px; font-weight: normal; text-align: center; }
.login h1 span { color: #da291c; font-weight: bold; }
.login .host { text-align: center; color: #6b7785; margin-bottom: 24px; }
.login label { display: block; margin: 12px 0 4px; color: #4a5562; }
.login input { width: 100%; padding: 9px 10px; border: 1px solid #c3cbd3; border-radius: 3px; font: inherit; }
.login input:focus { outline: none; border-color: #3a8f3a; box-shadow: 0 0 0 2px rgba(58,143,58,0.2); }
.login button, .login .button { width: 100%; margin-top: 20px; }
.login .or { text-align: center; color: #8a949e; margin: 16px 0 0; }
.login .or + .button { margin-top: 8px; }
.error { background: #fdecea; color: #a32117; border: 1px solid #f3b8b2; border-radius: 3px; padding: 8px 10px; margin-bottom: 8px; }
main { padding: 20px; display: grid; grid-template-columns: 380px 1fr; gap: 20px; align-items: start; }
.widget { min-width: 0; overflow-x: auto; background: #fff; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.1); }
.widget h2 { margin: 0; font-size: 15px; padding: 12px; border-bottom: 1px solid #e3e7eb; }
.widget p { margin: 0; padding: 12px; color: #6b7785; }
.quick { margin: 0; padding: 12px 12px 12px 32px; line-height: 1.8; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid #eef0f2; white-space: nowrap; }
th { color: #6b7785; font-weight: normal; background: #f7f8f9; }
.status th { background: none; width: 35%; }
.status td { white-space: normal; }
.up { color: #2f7a2f; font-weight: bold; }
.down { color: #b36b00; font-weight: bold; }
</style>`

var loginTemplate = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Hostname}} - Login</title>` + pageStyle + `</head>
<body>
<div class="login">
<h1><span>FortiGate</span></h1>
<div class="host">{{.Hostname}}</div>
{{if .Error}}<div class="error" role="alert">{{.Error}}</div>{{end}}
<form method="post" action="/login" autocomplete="off">
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{if .Redirect}}<input type="hidden" name="redirect" value="{{.Redirect}}">{{end}}
<label for="username">Username</label>
<input id="username" name="username" value="{{.Username}}" autofocus required>
<label for="secretkey">Password</label>
<input id="secretkey" name="secretkey" type="password">
<button id="login_button" class="primary" type="submit">Login</button>
</form>
{{if .SSO}}<div class="or">or</div>
<a id="sso_button" class="button secondary" href="{{.SSOURL}}">Single Sign-On</a>{{end}}
</div>
</body></html>
`))

// ssoLogoutTemplate sends the browser on to the IdP's single logout: the
// logout form may only post here (form-action 'self'), and a redirect
// after it to another site would be blocked; a refresh is a navigation.
var ssoLogoutTemplate = template.Must(template.New("sso-logout").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={{.URL}}"><title>{{.Hostname}} - Logout</title>` + pageStyle + `</head>
<body>
<div class="login">
<h1><span>FortiGate</span></h1>
<div class="host">{{.Hostname}}</div>
<p id="sso_logout">Logged out. Logging out of the identity provider: <a href="{{.URL}}">continue</a>.</p>
</div>
</body></html>
`))

var dashboardTemplate = template.Must(template.New("dashboard").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Hostname}} - Dashboard</title>` + pageStyle + `</head>
<body>
<header>
<div class="brand"><span>F</span>ortiGate</div><div class="host">{{.Hostname}}</div>
<div class="who"><span id="admin">{{.User}}{{if .Profile}} ({{.Profile}}){{end}}</span>
<form method="post" action="/ng/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button id="logout_button" type="submit">Logout</button></form></div>
</header>
<main>
<section class="widget" id="system_status"><h2>System Information</h2>
<table class="status">{{range .Status}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>{{end}}</table>
</section>
<section class="widget" id="ipsec_monitor"><h2>IPsec Monitor</h2>
{{if .TunnelsNote}}<p>{{.TunnelsNote}}</p>{{else}}
<table><tr><th>Name</th><th>Type</th><th>Remote Gateway</th><th>User</th><th>Tunnel IP</th><th>Phase 2</th><th>Incoming Data</th><th>Status</th></tr>
{{range .Tunnels}}<tr><td>{{.Name}}</td><td>{{.Type}}</td><td>{{.Peer}}</td><td>{{.User}}</td><td>{{.TunnelIP}}</td><td>{{.Phase2}}</td><td>{{.Incoming}}</td><td class="{{if eq .Status "Up"}}up{{else}}down{{end}}">{{.Status}}</td></tr>{{end}}
</table>{{end}}
</section>
{{if .QuickAccess}}<section class="widget" id="quick_access"><h2>Quick Access</h2>
<ul class="quick"><li>{{.Hostname}} *</li>{{range .QuickAccess}}<li><a href="{{.URL}}">{{.Name}}</a></li>{{end}}</ul>
</section>{{end}}
</main>
</body></html>
`))
