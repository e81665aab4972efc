/*
 * loadgen.h - what the scenarios of the load generator share: the parsed
 * command line and the "opener", which logs in a range of accounts with
 * bounded concurrency and keeps the resulting sessions in an array.
 * loadgen.c defines both; lg_msg.c and lg_presence.c use them.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <signal.h>

#include "lg.h"

struct lg_args {
	const char	*server;	/* label printed in RESULT */
	const char	*cafile;
	const char	*cache;		/* SCRAM SaltedPassword cache file */
	const char	*mam_default;	/* msg -M: XEP-0313 default to set */
	unsigned	 n, total, pairs, first;
	unsigned	 accounts;	/* idle -a: sessions share these */
	int		 conc, window, duration, warmup, timeout;
	double		 rate;
};

struct opener {
	unsigned	 first, n, next, wrap;
	int		 conc, inflight;
	unsigned	 ready, failed, errors_shown;
	const struct lg_ops *ops;
	struct lg_conn	**conns;	/* n slots, or NULL */
};

extern struct lg_args		args;
extern volatile sig_atomic_t	lg_stop;

void	opener_pump(struct opener *);
void	opener_ready(struct opener *, struct lg_conn *);
int	opener_closed(struct opener *, struct lg_conn *, const char *);
int	opener_run(struct opener *);

int	scen_msg(void);
int	scen_presence(void);
int	scen_muc(void);		/* lg_fanout.c */
int	scen_pep(void);

#endif /* LOADGEN_H */
