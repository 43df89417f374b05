package netsuitefake

import (
	"encoding/json"
	"net/http"
)

// NetSuite's error body [doc: section_156570709583]:
//
//	{"type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
//	 "title": "Bad Request", "status": 400,
//	 "o:errorDetails": [{"detail": "...", "o:errorCode": "USER_ERROR", "o:errorPath": "companyname"}]}
//
// The type URLs point at the status's section of RFC 9110 [INF: the shape of NetSuite's
// own examples].

type errorBody struct {
	Type    string        `json:"type"`
	Title   string        `json:"title"`
	Status  int           `json:"status"`
	Details []errorDetail `json:"o:errorDetails"`
}

type errorDetail struct {
	Detail string `json:"detail"`
	Code   string `json:"o:errorCode"`
	Path   string `json:"o:errorPath,omitempty"`
}

var statusSection = map[int]string{
	400: "rfc9110.html#section-15.5.1",
	401: "rfc9110.html#section-15.5.2",
	403: "rfc9110.html#section-15.5.4",
	404: "rfc9110.html#section-15.5.5",
	405: "rfc9110.html#section-15.5.6",
	429: "rfc6585.html#section-4",
	500: "rfc9110.html#section-15.6.1",
	502: "rfc9110.html#section-15.6.3",
	503: "rfc9110.html#section-15.6.4",
}

// writeError answers status with one error detail; path is the o:errorPath ("" for
// none).
func writeError(w http.ResponseWriter, status int, path, detail, code string) {
	section, ok := statusSection[status]
	if !ok {
		section = "rfc9110.html#section-15"
	}
	writeJSON(w, status, errorBody{
		Type:    "https://www.rfc-editor.org/rfc/" + section,
		Title:   http.StatusText(status),
		Status:  status,
		Details: []errorDetail{{Detail: detail, Code: code, Path: path}},
	})
}

// invalidLogin is NetSuite's answer to a request it cannot authenticate.
func invalidLogin(w http.ResponseWriter) {
	writeError(w, http.StatusUnauthorized, "",
		"Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
		"INVALID_LOGIN")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/vnd.oracle.resource+json; type=error; charset=UTF-8")
	if status < 300 {
		w.Header().Set("Content-Type", "application/vnd.oracle.resource+json; type=collection; charset=UTF-8")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
