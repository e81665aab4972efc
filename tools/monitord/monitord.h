/*
 * monitord.h - the monitoring publisher (docs/monitor.md).
 *
 * monitord logs in to an XMPP server as one account (libstrophe, STARTTLS
 * with a verified certificate), reads system values from /proc every
 * interval and publishes each to its own PEP node (XEP-0163) when it has
 * moved by more than its threshold since the last publication, plus
 * alerts when a value crosses a limit.  Shared by monitord.c (main loop,
 * options), monitord_proc.c (readers) and monitord_xmpp.c (the client).
 *
 * Invariants: every metric table is bounded (MON_MAX_METRICS); a value is
 * published only after it has been read successfully; nothing read from
 * /proc or from the server reaches an abort.
 */
#ifndef RAMPART_MONITORD_H
#define RAMPART_MONITORD_H

#include <stddef.h>
#include <stdint.h>

#define MON_NS			"urn:rampart:monitor:0"	/* payload namespace */
#define MON_NODE_PREFIX		"urn:rampart:monitor:"	/* + metric name */
#define MON_ALERTS		"alerts"		/* the alerts node */
#define MON_MAX_METRICS		64
#define MON_MAX_DISKS		8
#define MON_MAX_ALLOW		16
#define MON_NAME_MAX		64
#define MON_ALERT_ITEMS		10	/* alerts kept on the node */
#define MON_BACKOFF_MIN		1	/* s before the first reconnect */
#define MON_BACKOFF_MAX		60

/* Options (monitord_conf.c); names as on the command line. */
struct mon_conf {
	char	 jid[3072];
	char	 password_file[4096];
	char	 ca_file[4096];
	char	 host[256];		/* "" = the JID's domain */
	unsigned short port;		/* 0 = default */
	unsigned interval;		/* s between samples */
	char	 proc_root[4096];	/* "/proc" */
	char	 munin_dir[4096];	/* "" = none */
	char	 disks[MON_MAX_DISKS][256];
	int	 ndisks;
	char	 allow[MON_MAX_ALLOW][3072];	/* bare JIDs or @domain */
	int	 nallow;
	int	 open_access;		/* access_model open, not presence */
	double	 load_delta, cpu_delta, memory_delta, disk_delta, net_delta;
	double	 munin_delta;
	double	 alert_load;		/* 0 = off */
	double	 alert_memory;		/* MiB available below this; 0 = off */
	double	 alert_cpu;		/* % busy above this; 0 = off */
	double	 alert_disk;		/* % used above this; 0 = off */
	int	 verbose;
};
extern struct mon_conf mon_conf;

int	 mon_conf_args(int argc, char *argv[]);	/* 0 ok, -1 usage printed */

/* One reading of one metric. */
struct mon_value {
	char	 name[MON_NAME_MAX];	/* node = MON_NODE_PREFIX name */
	double	 value;
	double	 max;			/* scale for a chart; 0 = none */
	const char *unit;		/* static string */
	double	 delta;			/* publish threshold */
};

/* What the last publication of a metric was, and its alert state. */
struct mon_metric {
	struct mon_value cur;
	double	 published;
	int	 have_published;
	int	 alerting;
};

/* monitord_proc.c: fills `out` (at most `max`), returns how many. */
int	 mon_sample(struct mon_value *out, int max);

/* monitord_xmpp.c */
int	 mon_xmpp_init(void);
void	 mon_xmpp_connect(void);
int	 mon_xmpp_online(void);	/* session established */
int	 mon_xmpp_down(void);	/* no connection, none in progress */
void	 mon_xmpp_run(unsigned long ms);
void	 mon_xmpp_disconnect(void);
void	 mon_xmpp_free(void);
void	 mon_publish(const struct mon_value *);
void	 mon_publish_alert(const struct mon_value *, double limit,
	    int raised, const char *text);
void	 mon_forget_published(void);	/* a publish failed: send all again */

/* monitord.c */
void	 mon_connected(void);

#endif
