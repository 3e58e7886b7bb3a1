"""Word lists for the synthetic text. Chosen so every VADER rule fires somewhere: lexicon
words in three polarities, ALL-CAPS emphasis, negations, boosters and dampeners, "but",
"!" / "?" and emoji."""

# ruff: noqa: RUF001  (native-script phrases are intended)
from __future__ import annotations

__all__ = [
    "ADJECTIVES",
    "BOOSTERS",
    "BUT_CLAUSES",
    "COMMON_TAGS",
    "EMOJI",
    "FOREIGN",
    "OPENERS",
    "PUNCTUATION",
    "SUBJECTS",
    "SYLLABLES",
    "VERBS",
    "VERBS_NEGATED",
]

OPENERS = (
    "", "", "", "", "Honestly, ", "Wow, ", "OMG ", "Just saw it: ", "Ok so ", "lol ",
    "Ugh, ", "Breaking: ", "Update: ", "Hot take: ", "Not gonna lie, ", "Finally! ",
)  # fmt: skip
SUBJECTS = (
    "the new phone", "this game", "the update", "today's match", "the movie", "my coffee",
    "the weather", "this song", "the keynote", "customer service", "the new album",
    "traffic downtown", "the finale", "this city", "the price", "the food here", "the show",
    "the new policy", "the trailer", "my team", "the concert", "the app", "this book",
    "the launch", "the interview", "the airport", "the new feature", "the ending",
)  # fmt: skip
VERBS = ("is", "was", "looks", "feels", "seems", "is", "was", "sounds")
VERBS_NEGATED = ("is not", "isn't", "was not", "wasn't", "doesn't look", "never felt", "is not")
BOOSTERS = (
    "", "", "", "", "very ", "extremely ", "really ", "so ", "incredibly ", "totally ",
    "absolutely ", "kind of ", "slightly ", "somewhat ", "pretty ",
)  # fmt: skip
#: Indexed by polarity + 1: negative, neutral, positive.
ADJECTIVES: tuple[tuple[str, ...], ...] = (
    ("bad", "terrible", "awful", "boring", "horrible", "disappointing", "ugly", "annoying",
     "broken", "sad", "painful", "useless", "a disaster", "a mess"),
    ("out now", "live", "coming soon", "on sale", "back", "different", "here", "trending",
     "on TV tonight", "in the news", "delayed", "sold out", "available", "unchanged"),
    ("good", "great", "amazing", "awesome", "excellent", "fantastic", "beautiful", "fun",
     "brilliant", "perfect", "lovely", "wonderful", "impressive", "a masterpiece"),
)  # fmt: skip
BUT_CLAUSES: tuple[tuple[str, ...], ...] = (
    (", but the ending ruined it", ", but the price is awful", ", but I hate the wait",
     ", but nobody cares"),
    (", but we will see", ", but whatever", ", but it is late", ", but who knows"),
    (", but I still love it", ", but the crowd was great", ", but it was worth it",
     ", but the team is amazing"),
)  # fmt: skip
PUNCTUATION = (".", ".", "", "!", "!", "!!", "!!!", "?", "?!", "...")
EMOJI: tuple[tuple[str, ...], ...] = (
    ("", "", " 😡", " 💔", " 😢", " 👎", " :(", " 🤬"),
    ("", "", "", " 👀", " 🤔", " 📢", "", ""),
    ("", "", " 😍", " 🔥", " 👍", " 😂", " ❤️", " :)"),
)  # fmt: skip
#: Per language and polarity (negative, neutral, positive): short native phrases.
FOREIGN: dict[str, tuple[tuple[str, ...], ...]] = {
    "ja": (("最悪の一日だった", "電車が遅れてつらい", "このアプデは微妙"),
           ("今日のニュースを見た", "新しいアルバムが出た", "明日は雨らしい"),
           ("このゲーム本当に面白い", "ライブ最高だった", "新しいカフェが素敵")),
    "es": (("Qué desastre de partido", "No me gusta nada esta actualización", "Odio el tráfico"),
           ("Hoy sale el nuevo álbum", "Mañana hay elecciones", "Ya está disponible"),
           ("¡Qué partido tan increíble!", "Me encanta esta canción", "Muy buena película")),
    "pt": (("Que jogo horrível", "Não gostei da atualização", "Trânsito terrível hoje"),
           ("Saiu o novo álbum", "Amanhã tem eleição", "Já está disponível"),
           ("Que show incrível!", "Amei esse filme", "Muito bom esse café")),
    "ar": (("يوم سيئ جدا", "الخدمة بطيئة", "لا أحب هذا التحديث"),
           ("الألبوم الجديد متوفر", "الانتخابات غدا", "الأخبار اليوم"),
           ("مباراة رائعة", "أحب هذه الأغنية", "فيلم جميل جدا")),
    "id": (("Macet parah hari ini", "Aplikasinya error terus", "Kecewa banget"),
           ("Album baru sudah rilis", "Besok pemilu", "Sudah tersedia"),
           ("Pertandingan seru banget!", "Lagu ini bagus sekali", "Film yang keren")),
    "fr": (("Quel match décevant", "Je déteste cette mise à jour", "Encore en retard"),
           ("Le nouvel album est sorti", "Élections demain", "Disponible maintenant"),
           ("Quel concert incroyable !", "J'adore cette chanson", "Très bon film")),
    "ko": (("최악의 하루", "업데이트 별로다", "너무 실망했다"),
           ("새 앨범 나왔다", "내일 선거", "오늘 뉴스"),
           ("경기 진짜 최고", "이 노래 너무 좋아", "영화 정말 재밌다")),
    "tr": (("Berbat bir maçtı", "Bu güncelleme kötü", "Trafik felaket"),
           ("Yeni albüm çıktı", "Yarın seçim var", "Artık mevcut"),
           ("Harika bir maç!", "Bu şarkıyı seviyorum", "Çok güzel film")),
    "de": (("Was für ein schlechtes Spiel", "Das Update ist furchtbar", "Wieder Verspätung"),
           ("Das neue Album ist da", "Morgen ist Wahl", "Jetzt verfügbar"),
           ("Was für ein tolles Konzert!", "Ich liebe diesen Song", "Sehr guter Film")),
    "hi": (("बहुत बुरा मैच था", "यह अपडेट खराब है", "आज ट्रैफिक भयानक है"),
           ("नया एल्बम आ गया", "कल चुनाव है", "अब उपलब्ध है"),
           ("शानदार मैच!", "यह गाना बहुत अच्छा है", "बहुत अच्छी फिल्म")),
}  # fmt: skip
#: The most-used hashtags (Zipf ranks 1..n); rarer ranks get syllable names.
COMMON_TAGS = (
    "news", "ai", "music", "nowplaying", "football", "bitcoin", "crypto", "tech", "gaming",
    "love", "art", "photography", "travel", "nba", "nfl", "f1", "kpop", "anime", "movies",
    "tv", "politics", "breaking", "sports", "fashion", "food", "fitness", "health", "science",
    "climate", "weather", "business", "startup", "marketing", "jobs", "design", "books",
    "premierleague", "worldcup", "olympics", "election", "space", "nasa", "apple", "android",
    "iphone", "openai", "chatgpt", "python", "javascript", "datascience", "btc", "eth", "nft",
    "memes", "funny", "mondaymotivation", "tbt", "ff", "photooftheday", "instagood", "bts",
    "blackpink", "netflix", "oscars", "grammys", "superbowl", "cricket", "ipl", "tennis",
    "golf", "ufc", "wwe", "esports", "fortnite", "minecraft", "pokemon", "starwars", "marvel",
    "dc", "disney", "cats", "dogs", "pets", "nature", "sunset", "coffee", "vegan", "recipe",
    "education", "history", "economy", "stocks", "inflation", "realestate", "cars", "ev",
    "tesla", "spacex", "ukraine", "japan", "india", "brazil", "mexico", "london", "paris",
)  # fmt: skip
SYLLABLES = (
    "ka", "ri", "to", "mo", "na", "shi", "lu", "ve", "xo", "za", "pe", "di", "bo", "ne", "fa",
    "gu", "ly", "tri", "sta", "qu", "ro", "mi", "de", "lo", "ta", "vi", "so", "ha", "ju", "ke",
    "pa", "zu", "fi", "ga", "no", "wi", "be", "co", "ma", "ti", "ra", "sa", "el", "on", "ax",
    "io", "um", "ex", "ar", "en", "in", "or", "us", "al", "ic", "yo", "ku", "go", "up", "it",
    "he", "we", "am", "oz",
)  # fmt: skip
