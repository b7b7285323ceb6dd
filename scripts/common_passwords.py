"""Write src/mixflow/store/common_passwords.txt: the passwords a new account may not use.

Assembled from public knowledge, with no download: the words that top every published list of leaked
passwords (RockYou, the yearly SplashData and NordPass lists), keyboard walks and digit runs, each with
the suffixes people add to pass a length rule (`password123`, `qwerty2024!`). Entries of at least 8
characters are kept, and the bare words of 4 or more (the check also refuses a listed word followed by
digits and symbols only); all lower-cased, as the check lower-cases.

    .venv/bin/python scripts/common_passwords.py
"""

from __future__ import annotations

from pathlib import Path

WORDS = """
password passw0rd p@ssword p@ssw0rd pass pa55word qwerty qwertz azerty letmein welcome monkey dragon
football baseball basketball soccer hockey iloveyou admin administrator princess sunshine master shadow
superman batman spiderman trustno1 michael jennifer jordan hunter ranger buster harley killer george
charlie andrew michelle love jessica pepper daniel access joshua maggie starwars silver william dallas
yankees ashley thomas matrix computer summer winter spring autumn freedom whatever nicole hello secret
cheese flower pokemon chocolate butterfly liverpool chelsea arsenal samsung google internet login
changeme default guest root test tester user manager mustang tigger purple orange banana cookie ginger
hannah loveme lovely angel babygirl anthony justin robert matthew amanda abc abcd abcdef abcdefg
qwertyuiop asdfghjkl asdfgh zxcvbnm zxcvbn qazwsx 1qaz2wsx zaq12wsx 1q2w3e4r 1q2w3e 1q2w3e4r5t qweasd
qweasdzxc asdasd asd qwe qwer qwert mypassword yourpassword nopassword passwd mustang michael1 family
friends forever blessed jesus christ heaven angel1 sunshine1 monkey1 dragon1 shadow1 master1 letmein1
baby babe honey sweet sweetheart cutie kitten kitty puppy doggie tiger lion eagle falcon phoenix
wizard magic merlin gandalf frodo mickey minnie disney barbie naruto goku pikachu minecraft fortnite
roblox zelda mario nintendo playstation xbox gamer player hacker coffee pizza whiskey beer vodka
london paris berlin moscow china beijing shanghai changsha sany truck trucks mixer factory mixflow
company office work welcome1 hello1 secret1 private public system server network database oracle
mysql postgres linux ubuntu windows apple iphone android samsung1 nokia huawei xiaomi cisco
january february march april may june july august september october november december
monday tuesday friday sunday weekend holiday spring1 summer1 winter1 autumn1 football1 soccer1
charlie1 jordan23 michael23 lebron kobe messi ronaldo neymar juventus barcelona realmadrid manchester
united madrid bayern ferrari porsche bmw mercedes toyota honda ford chevrolet corvette camaro
diamond golden gold silver1 platinum money dollar rich success winner champion victory
america usa canada australia england germany france india brazil mexico
superstar rockstar starlight moonlight sunflower rainbow unicorn dolphin butterfly1 flowers
qwerty1 qwerty12 qwerty123 password1 password12 password123 abc123 abc12345 iloveyou1 letmein123
princess1 welcome123 admin123 admin1234 root123 test123 test1234 user123 guest123 changeme123
""".split()  # noqa: SIM905

SUFFIXES = ["", "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678", "!", "1!", "12!",
            "123!", "!@#", "@123", "#1", "01", "007", "69", "99", "00", "11", "13", "21", "22", "23",
            "666", "777", "888", "999", "2000", "2010", "2015", "2016", "2017", "2018", "2019",
            "2020", "2021", "2022", "2023", "2024", "2025", "2026"]

WALKS = ["1234567890", "0123456789", "9876543210", "0987654321", "12345678910", "123456789a",
         "a123456789", "1234567890a", "qwertyuiop", "qwertyuiop[]", "asdfghjkl;", "1qaz2wsx3edc",
         "1qaz2wsx3edc4rfv", "zaq1xsw2cde3", "qazwsxedc", "qazwsxedcrfv", "qweasdzxc123",
         "1q2w3e4r5t6y", "1q2w3e4r5t6y7u", "q1w2e3r4t5", "q1w2e3r4t5y6", "zxcvbnm123", "!qaz@wsx",
         "!qaz2wsx", "1qazxsw2", "asdfghjkl123", "qwerty123456", "qwertyui", "abcdefghij",
         "abcdefgh12", "abcd1234", "abcd12345", "aa12345678", "a1b2c3d4e5", "1a2b3c4d5e", "password!",
         "p4ssw0rd", "p455w0rd", "passw0rd!", "p@ssw0rd1", "p@ssw0rd123", "p@55w0rd", "iloveyou!",
         "11223344", "1122334455", "112233445566", "12341234", "123123123", "1231231234",
         "123321123", "12344321", "1234554321", "123456654321", "147258369", "1472583690",
         "159753", "1597534682", "159357", "741852963", "7418529630", "963852741", "987654321",
         "192837465", "password1234", "qwerty12345", "1q2w3e4r5t", "000000000", "0000000000"]


def main() -> None:
    passwords: set[str] = set()
    for word in WORDS:
        for suffix in SUFFIXES:
            passwords.add(word + suffix)
            if suffix in ("1", "12", "123", "1234", "!", "@"):
                passwords.add(suffix + word)
            if suffix in ("", "1", "123"):
                passwords.add(word + word + suffix)
    passwords.update(WALKS)
    for digit in "0123456789abcdefghijklmnopqrstuvwxyz":
        for n in range(8, 17):
            passwords.add(digit * n)
    for start in range(10):
        for n in range(8, 13):
            passwords.add("".join(str((start + i) % 10) for i in range(n)))
            passwords.add("".join(str((start - i) % 10) for i in range(n)))
    kept = sorted({p.lower() for p in passwords if len(p) >= 8} | {w.lower() for w in WORDS if len(w) >= 4})
    target = Path(__file__).resolve().parents[1] / "src" / "mixflow" / "store" / "common_passwords.txt"
    target.write_text("\n".join(kept) + "\n", encoding="utf-8")
    print(f"{len(kept)} passwords -> {target}")


if __name__ == "__main__":
    main()
