"""What every background job and server-wide resource shares: start / pause / stop and copies
for another process (control), the process's job registry with its caps, queue, owners and
heartbeats (registry, limits), where jobs run (engines: this process's threads, or Ray actors
through remote), fair turns on the cores (fair_share), jobs at a lower CPU priority than the
pages (priority), heavy-work slots and the seeded-RNG lock (concurrency), bounded caches (bounded_cache), the garbage collector kept out of the way
(memory), run identities (identity) and owner tokens (tokens).

Imports nothing of the app (ray only when EXPLORER_RAY_ADDRESS asks for it).
"""
