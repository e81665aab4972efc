/*
 * s2sd.c - federation and external components (XEP-0114); implemented by the federation issue.
 *
 * Until then s2sd is the bare daemon skeleton: it completes the handshake
 * with routerd, enters its sandbox and idles.  routerd routes nothing to it
 * yet, so any frame that arrives is logged and ignored.
 */
#include "daemon.h"
#include "log.h"
#include "s2sd.h"

/* The keys routerd sends (store-dir, hosts, options) are accepted and
 * unused until the daemon is implemented. */
static int
s2sd_configure(const char *key, int argc, const char **argv)
{
	return 0;
}

static void
s2sd_dispatch(struct link *l, struct frame *f)
{
	log_debug("ignoring %s frame", frame_type_name(f->hdr.type));
	if (f->fd != -1)
		close(f->fd);
}

static const struct daemon_ops s2sd_ops = {
	.name = "s2sd",
	.configure = s2sd_configure,
	.dispatch = s2sd_dispatch,
	.policy = &s2sd_policy,
};

int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &s2sd_ops);
}
