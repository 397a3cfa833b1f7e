"""The router's vocabulary: words and short phrases that point at a domain or at the depth of a task.

Each cue names a general concept (proof words, concurrency, a request for brevity), never a particular
prompt. English entries (and their French, German, Spanish, Italian, Portuguese and Russian kin) are
words, or phrases of two to four words joined by `_`, matched after lower-casing and splitting on anything
that is not a letter or digit (so `lock-free` is `lock_free` and `don't` is `don_t`); a word marked `^`
counts only among the first three words (`quick:` is a hint, "a quick pick list" is not). Korean entries
are stems matched at the start of a space-separated word, because Korean attaches particles and endings
to stems. Chinese and Japanese entries are substrings of runs of those scripts, which have no spaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["CUES", "LEXICON", "Lexicon"]

CUES: Final = (
    # what the task is about
    "code",
    "language",
    "shell",
    "math",
    "reasoning",
    "writing",
    "translate",
    "admin",
    "search",
    "chat",
    "design",
    # how deep it goes
    "proof",
    "rigour",
    "quantity",
    "concurrency",
    "failure",
    "performance",
    "construction",
    "tests",
    "constraint",
    "research",
    "tradeoff",
    "systems",
    "compose",
    "scrutiny",
    "debug",
    "explain",
    # what kind of ask it is, whatever its topic
    "persona",
    "units",
    "trick",
    "scope",
    # what the user asked for explicitly
    "quick",
    "brief",
    "think",
    "thorough",
    "best",
)
"""Every cue name, domains first."""

_ENGLISH: Final[dict[str, str]] = {
    "code": """function functions method methods class classes variable variables compile compiler bug bugs
        debug exception exceptions traceback script scripts regex regexp api endpoint endpoints json yaml toml
        csv query queries repo repository git dockerfile docker kubernetes kubectl helm cli library module
        package code snippet refactor refactoring implement implementing pytest unittest jest typing generic
        generics lint linter deploy database sql index indexes container npm pip cargo crate makefile cmake
        lambda closure iterator pointer segfault struct enum interface decorator callback promise nginx
        systemd cron webhook http https frontend backend react django flask fastapi orm stdout stderr stdin
        argv vscode vim shebang syntax parse parsing compiles runtime""",
    "language": """python javascript typescript java kotlin swift rust golang ruby php scala haskell elixir
        erlang lua perl clojure ocaml zig cpp csharp fsharp c11 c17 bash zsh powershell html css solidity dart
        julia fortran cobol assembly cuda wasm sql postgres postgresql mysql sqlite redis""",
    "shell": """grep sed awk jq curl wget ssh rsync tar chmod chown xargs tmux lsof kill ps df du brew apt
        systemctl journalctl ffmpeg openssl linux unix macos terminal git_commit command_line git_rebase
        one_liner""",
    "math": """probability probabilities expected expectation variance deviation integral integrals derivative
        equation equations solve theorem lemma prime primes permutation permutations combination combinations
        combinatorics factorial modulo modular matrix matrices eigenvalue polynomial logarithm irrational
        rational integer integers divisible series converge convergence percent percentage decimal hexadecimal
        geometry triangle angle radius algebra calculus statistics statistical distribution uniformly odds
        dice cards deck fraction ratio average median mortgage formula sum sums squared cube cubes numbers
        digits fibonacci gcd lcm infinitely inequality inequalities arithmetic geometric p_value how_many
        expected_value""",
    "reasoning": """why reason reasoning logic logical puzzle riddle argue argument evaluate decide decision
        compare comparison plausible plausibility estimate estimation infer deduce conclude implications
        consequences tradeoff tradeoffs cheaper better worse worth whether truth lie lies liar knight knights
        knave knaves paradox counterexample guarantee guaranteed conserved pros should_i pros_and_cons
        trade_offs makes_sense is_it_possible does_it_follow back_of_the_envelope sanity_check which_is""",
    "writing": """write draft rewrite rephrase reword polish proofread edit paragraph paragraphs essay letter
        email blog article story poem tweet caption headline title titles slogan tagline bio summary summarise
        summarize shorten tone polite politely formal friendly grammar wording sentence sentences announcement
        announcing readme memo linkedin commit_message self_review cover_letter""",
    "compose": """draft essay letter email blog article story poem paragraph paragraphs announcement
        announcing readme memo proposal report speech newsletter post section chapter cover_letter self_review
        write_up""",
    "translate": "translate translation translated translating in_english into_english to_english",
    "admin": """calendar meeting meetings schedule scheduled reschedule appointment appointments remind
        reminder reminders todo inbox invite invitation rsvp agenda booking standup timezone errand errands
        expense expenses invoice availability monday tuesday wednesday thursday friday saturday sunday weekday
        weekdays to_do next_week reply_to book_a my_calendar my_inbox out_of_office""",
    "search": """search latest recent recently news weather forecast price prices reviews rated near nearby
        places restaurant restaurants hotel hotels flights population sources citations wikipedia look_up
        who_wrote who_is when_did when_was what_year write_ups search_around capital_of near_me open_now""",
    "chat": """feel feeling feelings burnt burnout stressed anxious tired lonely motivation advice torn hi
        hello hey thanks thank chat opinion honestly what_would_you how_are_you i_m_torn""",
    "design": """design sketch architecture architectural schema schemas diagram component components scalable
        scalability topology microservices monolith pipeline infrastructure replication consensus sharding
        partitioning rfc blueprint data_model design_doc design_document high_level api_design""",
    "proof": """prove proves proved proving proof proofs disprove refute derive derives derivation derivations
        rigorous rigorously lemma theorem induction invariant invariants formally correctness show_that""",
    "rigour": """careful carefully meticulous precisely exact exactly unique uniquely verify validate justify
        justified justification assumption assumptions interleaving interleavings timeline timelines
        step_by_step case_analysis show_every show_your every_term each_step second_method double_check
        walk_through edge_cases corner_cases worst_case first_principles state_every confirm_the""",
    "quantity": """estimate calculate compute bandwidth flops throughput probability expected variance
        distribution optimal optimise optimize minimise minimize maximise maximize how_many how_much
        what_share how_long""",
    "concurrency": """thread threads threading multithreaded mutex mutexes lock locks locking atomic atomics
        race deadlock deadlocks livelock concurrent concurrently concurrency parallel parallelism asyncio
        goroutine goroutines tokio semaphore transaction transactions isolation linearizable pthread pthreads
        gil await lock_free wait_free memory_ordering race_condition data_race""",
    "failure": """hang hangs hanging hung stall stalls stalling leak leaks leaking segfault segfaults crash
        crashes crashing panic panics corrupt corruption corrupted flaky intermittent intermittently
        occasionally sporadically randomly oom deadlocked starvation under_load sometimes_fails""",
    "performance": """performance optimise optimize optimization throughput latency p99 p95 rps qps bottleneck
        profiling profiler benchmark benchmarks scale scaling million millions billion billions cache caching
        vectorize simd explain_analyze under_a_second""",
    "debug": """why wrong fix fixes broken bug bugs unexpected unexpectedly instead doesn_t_work not_working
        what_s_wrong goes_wrong""",
    "construction": """implement implementing implementation parser tokenizer lexer interpreter compiler
        evaluator allocator scheduler codemod porting migrate migration refactor restructure rewrite framework
        engine extension plugin protocol emulator operator controller daemon crawler sdk driver tree trie heap
        buffer queue port_this port_it from_scratch data_structure ring_buffer end_to_end""",
    "tests": """tests testing randomized fuzz fuzzing unit_tests test_suite table_driven with_tests
        stress_test property_based""",
    "constraint": """must only except without within never ensure guarantee guaranteed require requires
        required constraint constraints unless at_most at_least no_more_than no_less_than no_later_than
        same_behaviour same_behavior""",
    "research": """literature papers paper research hypothesis hypotheses experiment experiments empirical
        evidence state_of_the_art current_understanding""",
    "tradeoff": """tradeoff tradeoffs alternatives versus vs compare comparison contrast recommend
        recommendation summarize summarise each table tabulate weigh trade_offs pros_and_cons failure_modes
        under_which which_one""",
    "systems": """kernel driver firmware embedded cuda simd atomics pthread syscall mmap unsafe c11 c17 cpp
        rust zig assembly""",
    "quick": """^quick ^quickly asap tldr tl_dr quick_question quick_answer keep_it_quick one_liner one_line
        one_word in_short""",
    "brief": """brief briefly concise concisely succinct tersely keep_it_short short_answer one_sentence
        two_lines just_the no_explanation only_the is_enough""",
    "think": """ultrathink think_hard think_carefully think_deeply think_it_through reason_carefully
        careful_reasoning reason_it_through think_step""",
    "scrutiny": """audit auditing vulnerabilities vulnerability attacker attackers exploit exploits hardening
        pentest adversarial threat_model security_review""",
    "thorough": """thorough thoroughly exhaustive exhaustively comprehensive comprehensively in_depth
        don_t_stop complete_design full_design every_vulnerability""",
    "best": """best_answer absolute_best best_possible most_thorough as_detailed take_your_time this_matters
        leave_nothing the_best_you""",
    "explain": "explain explains explanation illustrate example examples how_does how_do why_does walk_me_through",
    "persona": """act_as acting_as act_like pretend pretending roleplay role_play roleplaying in_character
        stay_in_character embody embodying impersonate impersonating persona play_the_role the_role_of
        take_on_the you_are_a you_re_a imagine_you from_now_on speak_as answer_as respond_as reply_as channel
        narrate become_a assume_the step_into in_the_voice_of as_if_you_were""",
    "units": """convert conversion converting celsius fahrenheit kelvin km kilometres kilometers kilometre kilometer
        miles mile metres meters metre meter centimetres centimeters cm mm inches inch feet foot ft yards lb lbs
        pounds kg kilograms grams gram ounces ounce oz litres liters litre liter ml millilitres gallons gallon
        cups teaspoons teaspoon tablespoons tablespoon psi mph kib mib gib kilobytes megabytes hex binary
        decimal in_km in_miles to_celsius to_fahrenheit how_many_seconds""",
    "trick": """trick tricky trick_question riddle riddles brain_teaser teaser gotcha catch paradox
        how_is_that_possible how_is_it_possible explain_how who_is_in the_trick""",
    "scope": """codebase monolith monorepo modules packages services microservice microservices middleware layer
        layers across existing incrementally incremental backwards_compatible backward_compatible
        without_breaking still_pass keep_working keep_the_same same_results identical byte_for_byte
        zero_downtime rollout roll_out split_into into_modules a_package restructure reorganise reorganize
        call_sites every_module migration_plan in_stages""",
}

# The same concepts in French, German, Spanish, Italian, Portuguese and Russian: words in alphabets are
# looked up like English ones.
_EUROPEAN: Final[dict[str, str]] = {
    "code": """fonction fonctions función funciones funktion funktionen funzione funzioni função código codice
        programme programm programa функция функции код программа скрипт""",
    "math": """probabilité probabilités équation équations intégrale dérivée wahrscheinlichkeit gleichung
        gleichungen dreieck ableitung probabilidad ecuación ecuaciones triángulo derivada probabilità equazione
        equazioni triangolo probabilidade equação equações triângulo вероятность уравнение уравнения
        треугольник интеграл производная""",
    "proof": """démontrer démontrez démontre prouver prouvez montrer_que montrez_que beweise beweisen beweis
        zeige_dass zeigen_sie demuestra demuestre demostrar demostración dimostra dimostrare dimostrazione
        demonstre demonstrar prove_que докажите докажи доказать доказательство""",
    "translate": """traduis traduisez traduire traduce traducir traduzca übersetze übersetzen übersetzung traduci
        tradurre traduza traduzir переведи переведите перевести""",
    "rigour": "étape_par_étape schritt_für_schritt paso_a_paso passo_dopo_passo passo_a_passo по_шагам",
    "admin": """réunion rendez_vous termin besprechung reunión cita riunione appuntamento reunião встреча
        встречу""",
    "writing": "courriel lettre correo carta lettera письмо",
    "search": "météo wetter meteo погода",
    "chat": "bonjour salut hallo hola ciao привет merci danke gracias grazie obrigado спасибо",
    "persona": """fais_comme joue_le incarne incarnez actúa actúa_como finge finja fingi interpreta stell_dir_vor
        spiel_die_rolle rolle представь представьте сыграй роль wciel_się doe_alsof""",
    "units": """convertis convertir convertissez umrechnen umrechnung rechne_um convertire converter converta
        grados gradi grad stopni сантиметров дюйме градусов""",
    "trick": "énigme devinette rätsel adivinanza indovinello charada enigma загадка zagadka raadsel",
    "scope": """refactoriza refactorise découpe restructure umbauen reestruture modules módulos moduli module
        modulen""",
}

_KOREAN: Final[dict[str, str]] = {
    "code": "코드 함수 스크립트 버그 디버그 에러 오류 컴파일 쿼리 정규식 리팩터 라이브러리 패키지 명령어",
    "math": "확률 기댓값 기대값 분산 방정식 적분 미분 소수 순열 조합 주사위 카드 수열 공식 퍼센트 이자",
    "reasoning": "논리 추론 왜 장단점 판단 결정 거짓말 진실 참말 추정 타당",
    "writing": "작성 써줘 써주 초안 다듬 고쳐 문장 이메일 편지 요약 제목 말투 정중 공손 바꿔",
    "compose": "초안 이메일 편지 보고서 문서 공지",
    "translate": "번역 영어로 한국어로 일본어로 중국어로",
    "admin": "일정 예약 알림 회의 미팅 캘린더 약속 리마인더 할일 메일함 오전 오후 월요일 화요일 수요일 목요일 금요일",
    "search": "찾아 검색 최신 최근 뉴스 날씨 가격 맛집 근처 리뷰 자료",
    "chat": "기분 힘들 고민 조언 안녕 고마",
    "design": "설계 아키텍처 스키마 파이프라인",
    "proof": "증명 유도 귀납 불변",
    "debug": "왜 고쳐 버그 오류",
    "scrutiny": "보안 취약점 감사",
    "rigour": "단계별 단계적 검산 풀이 꼼꼼 정확 자세히",
    "quantity": "계산 추정 확률 기댓값 최적",
    "concurrency": "동시성 스레드 교착 비동기",
    "failure": "멈춤 누수 크래시 간헐",
    "performance": "성능 최적화 처리량",
    "construction": "구현 파서 이식 마이그레이션",
    "tests": "테스트",
    "constraint": "조건 반드시 제외 이내 이하 최대 최소 필수",
    "research": "논문 연구 실험 가설 문헌",
    "tradeoff": "트레이드오프 대안 장단점 비교 정리 요약 표로",
    "quick": "빨리 간단히 간단하게 짧게",
    "brief": "간단히 짧게",
    "think": "신중 깊이",
    "thorough": "철저 상세 빠짐없이",
    "best": "최대한 최고",
    "explain": "설명 예시 예제",
    "persona": "역할 너는 지금부터",
    "units": "변환 환산 섭씨 화씨 킬로 센티",
    "trick": "수수께끼 넌센스 함정",
}

_CJK: Final[dict[str, str]] = {
    "code": "代码 コード 函数 関数 バグ",
    "math": "概率 確率 方程 期待値 期望",
    "writing": "邮件 メール 文章",
    "translate": "翻译 翻訳 英語に 英文",
    "admin": "日程 予定 会议 会議 提醒",
    "search": "搜索 検索 最新 天气 天気",
    "design": "设计 設計 架构 アーキテクチャ",
    "proof": "证明 証明 推导 導出",
    "rigour": "一步一步 ステップ 詳しく 详细",
    "thorough": "徹底 详细",
    "best": "尽可能 できるだけ",
    "quick": "简单 簡単 すぐ",
    "persona": "扮演 角色 なりきって あなたは 役になって",
    "units": "换算 換算 华氏 摄氏 華氏 摂氏 公里 英里 センチ",
    "trick": "谜语 脑筋急转弯 なぞなぞ",
    "scope": "重构 模块 リファクタ モジュール",
}


class Lexicon:
    """Cue look-up tables, built once: words, phrases (by first word), Korean stems, CJK fragments.

    The tables are plain dicts for look-up speed; treat them as read-only."""

    __slots__ = ("cjk", "korean", "korean_longest", "leading", "phrase_starts", "phrases", "words")

    words: Mapping[str, tuple[str, ...]]
    """Cues of a single word."""
    leading: Mapping[str, tuple[str, ...]]
    """Cues of words that count only among the first three words."""
    phrases: Mapping[tuple[str, ...], tuple[str, ...]]
    """Cues of phrases of two to four words."""
    phrase_starts: frozenset[str]
    """First words of all phrases, so most words skip the phrase look-up."""
    korean: Mapping[str, tuple[str, ...]]
    korean_longest: int
    cjk: tuple[tuple[str, tuple[str, ...]], ...]

    def __init__(self, english: Mapping[str, str], korean: Mapping[str, str], cjk: Mapping[str, str]) -> None:
        unknown = (set(english) | set(korean) | set(cjk)) - set(CUES)
        if unknown:
            raise ValueError(f"unknown cues: {sorted(unknown)}")
        words: dict[str, list[str]] = {}
        leading: dict[str, list[str]] = {}
        phrases: dict[tuple[str, ...], list[str]] = {}
        for cue, text in english.items():
            for entry in text.split():
                if entry.startswith("^"):
                    leading.setdefault(entry[1:], []).append(cue)
                    continue
                parts = tuple(entry.split("_"))
                if len(parts) == 1:
                    words.setdefault(entry, []).append(cue)
                elif len(parts) <= 4:
                    phrases.setdefault(parts, []).append(cue)
                else:
                    raise ValueError(f"phrase longer than four words: {entry!r}")
        stems: dict[str, list[str]] = {}
        for cue, text in korean.items():
            for stem in text.split():
                stems.setdefault(stem, []).append(cue)
        fragments: dict[str, list[str]] = {}
        for cue, text in cjk.items():
            for fragment in text.split():
                fragments.setdefault(fragment, []).append(cue)
        self.words = {k: tuple(dict.fromkeys(v)) for k, v in words.items()}
        self.leading = {k: tuple(dict.fromkeys(v)) for k, v in leading.items()}
        self.phrases = {k: tuple(dict.fromkeys(v)) for k, v in phrases.items()}
        self.phrase_starts = frozenset(parts[0] for parts in phrases)
        self.korean = {k: tuple(dict.fromkeys(v)) for k, v in stems.items()}
        self.korean_longest = max((len(stem) for stem in stems), default=0)
        self.cjk = tuple((k, tuple(dict.fromkeys(v))) for k, v in fragments.items())


LEXICON: Final = Lexicon(
    {cue: f"{_ENGLISH.get(cue, '')} {_EUROPEAN.get(cue, '')}" for cue in CUES if cue in _ENGLISH or cue in _EUROPEAN},
    _KOREAN,
    _CJK,
)
"""The packaged vocabulary."""
