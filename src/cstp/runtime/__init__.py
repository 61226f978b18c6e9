"""Runtime plumbing around the ports: group commit, timing proxies, file watching (threads and clocks)."""
