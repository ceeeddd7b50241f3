/*
 * queue_wake.h: waking the spool's runner.  Whoever writes an entry to
 * active/ (a copy, the gateway's own mail) kicks; the runner waits for a
 * kick or its interval; its owner stops it at shutdown.  One runner per
 * process (the state is the process's).  Nothing here logs or exits.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef QUEUE_WAKE_H
#define QUEUE_WAKE_H

/* Wakes the runner now (or at the end of the run it is in). */
void queue_kick(void);

/* The runner: waits for a kick or secs seconds; 1 when it is to end
 * (queue_stop() was called), else 0. */
int queue_wait(long long secs);

/* Ends queue_wait() at once, and makes queue_stopping() 1: the runner
 * ends between two entries; its owner then joins it. */
void queue_stop(void);
int queue_stopping(void);

#endif
