package salesloftfake

import "strconv"

// Deletes, as far as Salesloft documents them (issue 15):
//
//   - DELETE /v2/accounts/{id} deletes one account [3p: the accounts OpenAPI of
//     api-evangelist/salesloft, "Delete an Account"; the Workato connector's Delete record
//     action]; the fake answers 204 with no body and 404 {"error": "Not Found"} for an id
//     it does not hold (already deleted or never there) [INF: the statuses are not in the
//     sources found]. There is no bulk delete.
//   - Salesloft keeps no log of deleted accounts that the API reads: no endpoint of the
//     v2 API lists them [3p: none among the 85 API descriptions of api-evangelist/salesloft],
//     and a deleted account is not archived (archived_at and the archived filter are for
//     accounts that still exist). What it offers is the account_deleted webhook, "When an
//     account is deleted, receive the deleted account object" [doc:
//     https://developers.salesloft.com/docs/platform/webhooks/event-types/], which the fake
//     sends for every deletion (webhooks.go).
//   - [INF]: the sources name no reason a delete is refused for one account. RefuseDelete
//     lets a test make one: DELETE answers 422 {"errors": {"base": [message]}}, the shape
//     of Salesloft's validation errors [3p: api-evangelist conventions].

// RefuseDelete makes DELETE /v2/accounts/{id} refuse the account with message; an empty
// message lifts the refusal.
func (s *Server) RefuseDelete(id, message string) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if message == "" {
		delete(s.refusals, n)
		return
	}
	s.refusals[n] = message
}

// refusedDelete returns the message a refused delete of id answers with.
func (s *Server) refusedDelete(id int64) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[id]; !ok {
		return "", false
	}
	msg, ok := s.refusals[id]
	return msg, ok
}
