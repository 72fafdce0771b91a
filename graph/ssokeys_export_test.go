package graph

// SSOKeySetsKept is how many connections' key sets s keeps, for the tests in package graph_test
// that check a key set is forgotten, which no request can observe.
func (s *Service) SSOKeySetsKept() int {
	s.ssoKeys.mu.Lock()
	defer s.ssoKeys.mu.Unlock()
	return len(s.ssoKeys.sets)
}
