"""GPU hosts over SSH: drivers, workspace lifecycle, code-server, tunnels, snapshots, scoring."""
