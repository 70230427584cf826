# handout.bats - the students' starter kit (run by `make test`, not part of
# a student's score): `grading/handout` writes it, it builds warning-free,
# its grader scores the starters low with a failing test in every lesson
# id, no line of a solution region is anywhere in it, and filling its TODOs
# with the solution regions gives back the kit's files byte for byte.
#
# HANDOUT_SUMMARY=FILE appends the starters' score per exercise to FILE.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

KIT="$BATS_TEST_DIRNAME/../.."
STRICT_CFLAGS="-O2 -g -Wall -Wextra -Wpedantic -Werror"
EXERCISES=(01-tcp-client 02-hello-server 03-nonblocking-send 04-select-echo)

# The handout is written once, and the grader it ships grades the starters
# once, in a copy as a student has it, the four exercises side by side; the
# tests below read the results.
setup_file() {
	export OUT=$BATS_FILE_TMPDIR H=$BATS_FILE_TMPDIR/handout
	local student=$BATS_FILE_TMPDIR/student
	bash "$KIT/grading/handout" -o "$OUT" >"$OUT/handout.log" 2>&1 || return 0
	cp -R "$H" "$student"
	# The students' `make`: the starters and the grader's peers.
	make -s -C "$student" >"$OUT/make.log" 2>&1 || return 0
	local exercise pids=()
	for exercise in "${EXERCISES[@]}"; do
		(
			status=0
			timeout -k 5 300 bash "$student/grading/grade" --json "$OUT/$exercise.json" "$exercise" \
				>"$OUT/$exercise.log" 2>&1 </dev/null || status=$?
			echo "$status" >"$OUT/$exercise.status"
		) 3>&- &
		pids+=("$!")
	done
	wait "${pids[@]}"
}

# source_of FILE: the kit file a handout file (relative path) comes from.
source_of() {
	case $1 in
	README.md | Makefile | .gitignore) echo "$KIT/grading/deploy/handout/$1" ;;
	.github/workflows/classroom.yml) echo "$KIT/grading/deploy/github-classroom.yml" ;;
	0*/README.md) echo "$KIT/${1%README.md}README.handout.md" ;;
	*) echo "$KIT/$1" ;;
	esac
}

# handout_files: every file of the handout, relative to it, one a line.
handout_files() {
	(cd "$H" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
}

# lesson_ids EXERCISE: the requirement ids its TODO markers name
# ("-- T2, T3:", "-- E1-E8:"), one a line.
lesson_ids() {
	sed -n 's/.*handout: TODO .* -- \([A-Z][0-9][-, A-Z0-9]*\):.*/\1/p' "$KIT/$1"/*.c |
		sed 's/[, ]\{1,\}/\n/g' | awk -F- 'NF == 2 { for (i = substr($1, 2); i <= substr($2, 2); i++) print substr($1, 1, 1) i; next }
			NF == 1 && $1 != "" { print }' | sort -u
}

# trimmed: stdin without leading and trailing blanks on each line.
trimmed() {
	sed 's/^[[:space:]]*//; s/[[:space:]]*$//'
}

@test "handout: make handout writes handout/ and handout.tar.gz: starters, their READMEs, common/, the grader and its peers, no solution, no mutants" {
	run cat "$OUT/handout.log"
	assert_output --partial "wrote $H/"
	local file
	for file in README.md Makefile .gitignore .github/workflows/classroom.yml \
		common/net.c common/net.h common/program.mk grading/grade grading/points \
		grading/Makefile grading/lib/kit.bash grading/peers/supervise.c \
		grading/peers/httpd.c grading/peers/sink.c grading/peers/probe.c grading/peers/loadclient.c \
		01-tcp-client/tcp-client.c 02-hello-server/hello-server.c \
		03-nonblocking-send/nonblocking-send.c 04-select-echo/select-echo.c; do
		[[ -f "$H/$file" ]] || fail "the handout has no $file"
	done
	local exercise
	for exercise in "${EXERCISES[@]}"; do
		[[ -f "$H/$exercise/Makefile" && -f "$H/$exercise/README.md" && -f "$H/grading/tests/$exercise.bats" ]] ||
			fail "the handout lacks $exercise's Makefile, README.md or grader tests"
	done
	# No solution, and nothing a student does not need.
	run handout_files
	refute_line --regexp '^grading/(mutants|deploy)/|^grading/(bench|demo|selftest|grade-class|gradescope|handout)$'
	refute_line --regexp 'epoll-echo|slide-echo|README\.handout\.md|tests/(grader|deploy|handout)\.bats|/bin/'
	# The tarball holds the same files.
	run bash -c "tar -tzf '$OUT/handout.tar.gz' | grep -v '/\$' | sed 's|^handout/||' | LC_ALL=C sort"
	assert_success
	[[ "$output" == "$(handout_files)" ]] || fail "handout.tar.gz and handout/ hold different files"
}

@test "handout: make builds it; the starters build warning-free with gcc and clang (-Werror); each answers --help; make clean leaves the handout as shipped" {
	run cat "$OUT/make.log"
	refute_output --partial warning
	[[ -x "$OUT/student/grading/bin/supervise" ]] || fail "the students' make built no peers: $output"
	local cc built exercise program
	for cc in gcc clang; do
		command -v "$cc" >/dev/null || continue
		built=$BATS_TEST_TMPDIR/$cc
		cp -R "$H" "$built"
		for exercise in "${EXERCISES[@]}"; do
			run make -s -C "$built/$exercise" CC="$cc" CFLAGS="$STRICT_CFLAGS"
			assert_success
			refute_output --partial warning
			program=$(sed -n 's/^PROGRAM = //p' "$built/$exercise/Makefile")
			run "$built/$exercise/$program" --help
			assert_success
			assert_output --partial Usage
		done
		run make -s -C "$built" clean
		assert_success
		run diff -r "$H" "$built"
		assert_success
	done
}

@test "handout: the grader on the starters ends by itself, scores each exercise low, and a test fails in every lesson id its TODOs name" {
	local exercise json status id ids summary=""
	for exercise in "${EXERCISES[@]}"; do
		json=$OUT/$exercise.json
		status=$(cat "$OUT/$exercise.status" 2>/dev/null || echo none)
		[[ "$status" == 1 && -s "$json" ]] ||
			fail "grading/grade $exercise on the starter: exit $status (1 wanted: tests failed, the grader ran), output: $(tail -n 5 "$OUT/$exercise.log")"
		# Less than half the exercise's points: the lessons are what scores.
		jq -e '.score * 2 < .max_score' "$json" >/dev/null ||
			fail "$exercise's starter scored $(jq -r '"\(.score)/\(.max_score)"' "$json"), half the points or more"
		# No program of the starter crashed or hung in a test.
		run jq -r '.tests[] | select(.output | test("killed by signal (?!13)|SIGXCPU|timed out after")) | .name' "$json"
		assert_output ""
		ids=$(lesson_ids "$exercise")
		[[ -n "$ids" ]] || fail "$exercise's sources name no lesson ids in their TODO markers"
		for id in $ids; do
			jq -e --arg id "$id" 'any(.tests[]; .number == $id and .score < .max_score)' "$json" >/dev/null ||
				fail "$exercise's starter loses no points on $id, a lesson id of its TODOs: $(grep " $id" "$OUT/$exercise.log" | head -n 3)"
		done
		summary+="$exercise $(jq -r '"\(.score)/\(.max_score)"' "$json") lesson ids $(paste -sd, <<<"$ids")"$'\n'
	done
	[[ -z "${HANDOUT_SUMMARY:-}" ]] || printf '%s' "$summary" >>"$HANDOUT_SUMMARY"
}

@test "handout: no line of a solution region is anywhere in the handout (every file), but for idioms the kit's helpers and peers share" {
	local secrets=$BATS_TEST_TMPDIR/secrets idioms=$BATS_TEST_TMPDIR/idioms source
	# A solution line: a line of a region, trimmed, of 8 characters or more
	# ("return;", "} else {" are no solution), that the starters do not
	# keep elsewhere and that common/ or a peer of the grader does not also
	# have verbatim (the kit's own code shares a few idioms with the
	# solutions: "if (errno == EINTR)", "sigemptyset(&stop_signals);").
	cat "$H"/common/*.[ch] "$H"/grading/peers/*.c | trimmed | LC_ALL=C sort -u >"$idioms"
	for source in "$KIT"/0*/*.c; do
		bash "$KIT/grading/handout" --strip "$source"
	done | trimmed >>"$idioms"
	LC_ALL=C sort -u -o "$idioms" "$idioms"
	for source in "$KIT"/0*/*.c; do
		bash "$KIT/grading/handout" --regions "$source" | grep -v 'handout: end'
	done | trimmed | awk 'length >= 8' | LC_ALL=C sort -u | LC_ALL=C comm -23 - "$idioms" >"$secrets"
	[[ $(wc -l <"$secrets") -gt 200 ]] || fail "only $(wc -l <"$secrets") solution lines found: the regions are not being read"
	local file found=""
	while read -r file; do
		if trimmed <"$H/$file" | grep -qxF -f "$secrets"; then
			found+="$file: $(trimmed <"$H/$file" | grep -xF -f "$secrets" | head -n 2 | tr '\n' '|')"$'\n'
		fi
	done < <(handout_files)
	tar -xzOf "$OUT/handout.tar.gz" | trimmed | grep -qxF -f "$secrets" && found+="handout.tar.gz"$'\n'
	[[ -z "$found" ]] || fail "solution lines in the handout: $found"
}

@test "handout: filling each TODO with its solution region gives back the kit's files byte for byte" {
	local file source regions filled=$BATS_TEST_TMPDIR/filled
	while read -r file; do
		source=$(source_of "$file")
		[[ -f "$source" ]] || fail "handout/$file comes from no file of the kit"
		if [[ "$file" == 0*/*.c ]]; then
			regions=$BATS_TEST_TMPDIR/regions
			bash "$KIT/grading/handout" --regions "$source" >"$regions"
			# After each TODO comment: "handout: " back in its first line,
			# then the region's lines up to and with its end marker.
			awk -v regions="$regions" '
				state == "" && /\/\* TODO / { sub(/\/\* TODO /, "/* handout: TODO "); state = "todo" }
				{ print }
				state == "todo" && /\*\// {
					while ((getline line < regions) > 0) { print line; if (line ~ /\/\* handout: end \*\//) break }
					state = ""
				}' "$H/$file" >"$filled"
			cmp -s "$filled" "$source" || fail "$file filled with its solutions differs from the kit's: $(diff "$source" "$filled" | head -n 8)"
		else
			cmp -s "$H/$file" "$source" || fail "handout/$file differs from ${source#"$KIT"/}"
		fi
	done < <(handout_files)
	# And no region of the kit is left out of the handout.
	local count_kit count_handout
	count_kit=$(cat "$KIT"/0*/*.c | grep -c 'handout: TODO ')
	count_handout=$(cat "$H"/0*/*.c | grep -c '/\* TODO ')
	((count_kit == count_handout)) || fail "$count_kit TODO markers in the kit, $count_handout TODOs in the handout"
}

@test "handout: a marker out of place stops grading/handout with the file and line" {
	local bad=$BATS_TEST_TMPDIR/bad.c
	printf 'int a;\n/* handout: TODO x -- T2: y. */\nint b;\n' >"$bad"
	run bash "$KIT/grading/handout" --strip "$bad"
	assert_failure
	assert_output --partial "bad.c:2: no /* handout: end */ for this TODO"
	printf 'int a;\n/* handout: end */\n' >"$bad"
	run bash "$KIT/grading/handout" --strip "$bad"
	assert_failure
	assert_output --partial "bad.c:2: a handout marker with no TODO before it"
	printf '/* handout: TODO x -- T2: y. */\nint a;\n/* handout: TODO z -- T3: w. */\n/* handout: end */\n' >"$bad"
	run bash "$KIT/grading/handout" --strip "$bad"
	assert_failure
	assert_output --partial "bad.c:3: a marker inside the region of line 1"
}
