package graph

// TwoFactorExempt is twoFactorExempt, for the directive matrix in package graph_test: the
// matrix reads the server's own list of exempt fields instead of keeping a copy that could drift.
var TwoFactorExempt = twoFactorExempt
