package ingress

// Unavailable is unavailable, for the tests of package ingress_test.
var Unavailable = unavailable
