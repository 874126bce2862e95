"""What every background job and server-wide resource shares: start / pause / stop (control),
the process's job registry with its cap, queue, owners and heartbeats (registry), heavy-work
slots and the seeded-RNG lock (concurrency), bounded caches (bounded_cache), the garbage
collector kept out of the way (memory).

Imports nothing of the app.
"""
