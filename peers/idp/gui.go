package idp

import "net/http"

// adminState is the administration pages' state.
type adminState struct{}

func (a *adminState) init() {}

// adminRoutes adds the administration pages.
func (s *Server) adminRoutes(mux *http.ServeMux) {}
