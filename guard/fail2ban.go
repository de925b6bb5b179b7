package guard

import (
	"regexp"
	"strings"
)

// FailRegexText is the fail2ban failregex matching a ban line written by a
// log/slog TextHandler, e.g.
//
//	time=2030-01-02T03:04:05.000Z level=WARN msg="tickwire ban" ip=192.0.2.7 reason=strikes:too_long ...
//
// It is the first failregex of deploy/fail2ban/filter.d/tickwire.conf;
// <HOST> is fail2ban's placeholder for the address.
const FailRegexText = `^.*?msg="tickwire ban"(?: .*?)?? ip=<HOST>(?: |$)`

// FailRegexJSON is the fail2ban failregex matching the same line written
// by a log/slog JSONHandler ({"time":...,"msg":"tickwire ban",...,"ip":"192.0.2.7",...}).
const FailRegexJSON = `^.*?"msg":"tickwire ban",(?:.*?,)?"ip":"<HOST>"`

// hostPattern stands in for fail2ban's <HOST> when the regexes are compiled
// in Go: an IPv4 or IPv6 address.
const hostPattern = `(?P<host>[0-9A-Fa-f:.]+)`

// CompileFailRegex compiles a fail2ban failregex for Go, replacing <HOST>
// with a capture group named "host". It lets tests check the shipped filter
// against real log output.
func CompileFailRegex(failregex string) (*regexp.Regexp, error) {
	return regexp.Compile(strings.ReplaceAll(failregex, "<HOST>", hostPattern))
}
