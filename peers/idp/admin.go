package idp

import (
	"encoding/json"
	"net/http"
	"time"
)

// AdminHandler is the IdP's loopback-only administration: the session
// list and the lab clock. "fosim idp" serves it on its --admin address.
//
//	GET  /sessions                 the session list (JSON)
//	GET  /clock                    the IdP clock (RFC 3339)
//	POST /clock/advance?by=DUR     move the clock forward (Go duration: 481m)
//	POST /sessions/end  id=ID      end a session of the list
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		rows := s.Sessions()
		if rows == nil {
			rows = []SessionInfo{}
		}
		json.NewEncoder(w).Encode(rows)
	})
	mux.HandleFunc("POST /sessions/end", func(w http.ResponseWriter, r *http.Request) {
		if !s.EndSession(r.FormValue("id")) {
			http.Error(w, "no session with this id", http.StatusNotFound)
			return
		}
		s.logger.Printf("session %s ended by the administration endpoint", r.FormValue("id"))
		w.Write([]byte("session ended\n"))
	})
	mux.HandleFunc("GET /clock", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(s.clock.Now().Format(time.RFC3339) + "\n"))
	})
	mux.HandleFunc("POST /clock/advance", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("by"))
		if err != nil || d < 0 {
			http.Error(w, "by: a positive duration such as 481m", http.StatusBadRequest)
			return
		}
		s.clock.Advance(d)
		w.Write([]byte(s.clock.Now().Format(time.RFC3339) + "\n"))
	})
	return mux
}
