/*
 * mucd.c - chat rooms (XEP-0045); implemented by the MUC issue.
 *
 * Until then mucd is the bare daemon skeleton: it completes the handshake
 * with routerd, enters its sandbox and idles.  routerd routes nothing to it
 * yet, so any frame that arrives is logged and ignored.
 */
#include "daemon.h"
#include "log.h"
#include "mucd.h"

/* The keys routerd sends (store-dir, hosts, options) are accepted and
 * unused until the daemon is implemented. */
static int
mucd_configure(const char *key, int argc, const char **argv)
{
	return 0;
}

static void
mucd_dispatch(struct link *l, struct frame *f)
{
	log_debug("ignoring %s frame", frame_type_name(f->hdr.type));
	if (f->fd != -1)
		close(f->fd);
}

static const struct daemon_ops mucd_ops = {
	.name = "mucd",
	.configure = mucd_configure,
	.dispatch = mucd_dispatch,
	.policy = &mucd_policy,
};

int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &mucd_ops);
}
