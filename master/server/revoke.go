package server

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/ca"
	"github.com/slapgo/slapgo/master/store"
)

func (s *Server) destroyPerson(w http.ResponseWriter, r *http.Request, who model.Actor) {
	if _, err := s.exec(r.Context(), master.DestroyPerson{By: who, ID: r.PathValue("id")}, nil); err != nil {
		writeError(w, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) destroyComputer(w http.ResponseWriter, r *http.Request, who model.Actor) {
	if _, err := s.exec(r.Context(), master.DestroyComputer{By: who, ID: r.PathValue("id")}, nil); err != nil {
		writeError(w, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeCertificate refuses a certificate from now on (core/master decides
// who may).
func (s *Server) revokeCertificate(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.RevokeRequest](w, r, true)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	serial, err := master.NormalizeSerial(r.PathValue("serial"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.mu.Lock()
	rec := s.certs[serial]
	s.mu.Unlock()
	// An unknown serial reaches the core with no identity: it answers
	// not found (the same for a serial of another's certificate would
	// leak nothing more: persons may revoke only their own).
	res, err := s.exec(r.Context(), master.RevokeCertificate{By: who, Serial: serial, Identity: rec.Identity, Reason: req.Reason}, nil)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if res.Changed {
		s.log.Info("certificate revoked", "serial", serial, "identity", rec.Identity.String(), "by", who.String(), "reason", req.Reason)
	}
	writeJSON(w, http.StatusOK, api.RevokeResponse{Serial: serial, Identity: rec.Identity, Revoked: true})
}

// crl answers the certificate revocation list (DER, signed by the CA) for
// other verifiers: every unexpired certificate the master recorded that
// core/master refuses now. Each entry's revocation time is recorded state,
// the same at every call and after a restart (see revokedAt).
func (s *Server) crl(w http.ResponseWriter, r *http.Request, _ model.Actor) {
	now := s.now()
	var entries []ca.Revoked
	s.mu.Lock()
	at := map[string]ca.Revoked{}
	for _, rv := range s.state.Revocations() {
		if rv.Serial != "" {
			at[rv.Serial] = ca.Revoked{Serial: rv.Serial, At: rv.At}
		}
	}
	for serial, rec := range s.certs {
		if !rec.NotAfter.After(now) || rec.Identity.Kind == "server" {
			continue
		}
		if s.state.CertificateRefused(serial, rec.Identity, rec.IssuedAt) == nil {
			continue
		}
		e, ok := at[serial]
		if !ok {
			e = ca.Revoked{Serial: serial, At: revokedAt(s.state, rec)}
		}
		entries = append(entries, e)
	}
	s.mu.Unlock()
	slices.SortFunc(entries, func(a, b ca.Revoked) int { return strings.Compare(a.Serial, b.Serial) })
	der, err := s.ca.CRL(entries, now)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Cache-Control", "max-age=60")
	w.Write(der)
}

// revokedAt is the revocation time of a refused certificate that was not
// revoked by its serial: when its identity was destroyed
// (core/master.State.DestroyedAt; for an instance destroyed before the
// database recorded destruction times, the time of that upgrade), or else
// (an identity the master never knew) the certificate's issue time.
func revokedAt(st *master.State, rec store.Certificate) time.Time {
	if at, ok := st.DestroyedAt(rec.Identity); ok {
		return at
	}
	return rec.IssuedAt
}
