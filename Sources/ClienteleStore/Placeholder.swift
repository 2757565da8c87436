public enum _PlaceholderClienteleStore {}
