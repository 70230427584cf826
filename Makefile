# The socket lab kit: four exercises, a helper library and the grader.
#
#   make            build every exercise and the grader's test peers
#   make demo       build, then walk through the four slides on localhost
#   make test       warnings, unit tests, the grader on the kit (plain and
#                   under ASan/UBSan); last line "N passed, N failed"
#   make sanitize   rebuild every exercise with ASan + UBSan
#   make bench      measure the programs (see README)
#   make gradescope write autograder.zip for Gradescope (see README, "Deploy")
#   make handout    write handout/ and handout.tar.gz, the students' starter
#                   kit (see README, "Hand out the exercises")
#   make clean      remove everything make built
#
# CC, CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS are passed down to every folder.

EXERCISES := $(patsubst %/Makefile,%,$(wildcard 0*/Makefile))

.PHONY: all $(EXERCISES) peers test demo bench sanitize gradescope handout clean

all: $(EXERCISES) peers

$(EXERCISES):
	$(MAKE) -C $@

peers:
	$(MAKE) -C grading

test:
	bash grading/selftest

demo: all
	bash grading/demo

bench: all
	bash grading/bench

gradescope:
	bash grading/gradescope

handout:
	bash grading/handout

sanitize:
	for dir in $(EXERCISES); do $(MAKE) -C $$dir clean && $(MAKE) -C $$dir SANITIZE=1 || exit 1; done

clean:
	for dir in $(EXERCISES) grading; do $(MAKE) -C $$dir clean || exit 1; done
	rm -f common/test-net
