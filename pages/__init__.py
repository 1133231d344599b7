"""The app's pages, one file each; ``app/navigation.py`` declares them (title, icon, url path).

A package so the wheel ships it beside ``app/``. Streamlit runs each file as a script.
"""
