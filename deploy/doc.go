// Package deploy holds no code: its directory has the files for running
// tickwire on a server (systemd units, fail2ban filters and jails, a
// Grafana dashboard), and its tests check them against the real binary and
// the log lines the server writes. docs/DEPLOY.md is the guide.
package deploy
