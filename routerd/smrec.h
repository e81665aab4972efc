/*
 * smrec.h - routerd's record of a resumable XEP-0198 session (smrec.c).
 */
#ifndef RAMPART_SMREC_H
#define RAMPART_SMREC_H

#include <stddef.h>
#include <stdint.h>

struct fout;
struct frame;
struct link;
struct smrec;

#define SMREC_SLACK		64	/* copies beyond 2 x sm-max-unacked */
#define SMREC_MAX_SECS		86400	/* resume window c2sd may announce */
#define SMREC_MAX_RECORDS	65536	/* records in routerd at once */

struct smrec *smrec_new(struct frame *);	/* RF_SM_ENABLE body; NULL if bad */
void	 smrec_free(struct smrec *);
uint32_t smrec_keep(struct smrec *, struct fout *);
void	 smrec_h_in(struct smrec *, uint32_t corr);
int	 smrec_state(struct smrec *, struct frame *);	/* RF_SM_STATE body */
struct fout *smrec_take(struct smrec *);
size_t	 smrec_count(const struct smrec *);
int	 smrec_full(const struct smrec *);
void	 smrec_park(struct smrec *);
uint32_t smrec_left(const struct smrec *);
int	 smrec_hand_over(struct smrec *, struct link *, const char *full,
	    uint64_t sid);

#endif
